"""The checkpoint track's glue inside the worker: what it records on the submission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from django.core.files.uploadedfile import SimpleUploadedFile

from leaderboard.models import Benchmark, Status, Submission
from leaderboard.services.registration import sync_benchmark
from leaderboard.services.submissions import SubmissionRequest, create_submission
from tests.leaderboard.conftest import make_user
from tests.reference_models.conftest import BENCH, make_task, tiny_backbones  # noqa: F401


@pytest.fixture
def checkpoint_submission(
    db: None, tmp_path: Path, settings: Any, tiny_backbones: dict
) -> Submission:
    from reference_models.train import train_checkpoint

    root = tmp_path / "data"
    make_task(root, "tiny-gray", channels=1, size=24)
    sync_benchmark(root, BENCH)
    settings.MEDVTAB_DATA_ROOT = root
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_DEVICE = "cpu"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 0
    archive = tmp_path / "adapter.zip"
    train_checkpoint(
        root,
        BENCH,
        ["tiny-gray"],
        "linear",
        out=archive,
        backbones={"backbone": tiny_backbones["general"].id},
        epochs=1,
        progress=False,
    )
    return create_submission(
        SubmissionRequest(
            owner=make_user("carol"),
            benchmark=Benchmark.objects.get(slug=BENCH),
            track="checkpoint",
            upload=SimpleUploadedFile(archive.name, archive.read_bytes()),
            method_name="linear probe",
        )
    )


def test_inference_line_is_saved_in_the_user_log(checkpoint_submission: Submission) -> None:
    from leaderboard.checkpoint_eval import evaluate_checkpoint_submission
    from leaderboard.tasks.evaluation import run_evaluation

    assert run_evaluation(checkpoint_submission.pk, evaluate_checkpoint_submission) == "succeeded"
    sub = Submission.objects.get(pk=checkpoint_submission.pk)
    assert sub.status == Status.SUCCEEDED, sub.error + sub.staff_log
    lines = sub.user_log.splitlines()
    inference = [
        i for i, line in enumerate(lines) if line.startswith("inference on cpu: 24 images")
    ]
    scored = [i for i, line in enumerate(lines) if " scored: " in line]
    assert inference and scored and inference[0] < scored[0], sub.user_log
