"""A starter-kit checkpoint through the real pipeline: upload → gpu queue → real worker → results."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from django.core.files.uploadedfile import SimpleUploadedFile

from evaluator.scoring import score_predictions_file
from leaderboard.models import Benchmark, Status, Submission
from leaderboard.services.registration import sync_benchmark
from leaderboard.services.submissions import SubmissionRequest, create_submission
from tests.integration.conftest import Stack
from tests.leaderboard.conftest import make_user
from tests.procs import celery_worker, wait_for
from tests.reference_models.conftest import BENCH, make_task, tiny_backbones  # noqa: F401

pytestmark = pytest.mark.integration


def _registry_file(specs: dict, path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "backbones": [
                    {
                        "id": s.id,
                        "arch": s.arch,
                        "kwargs": s.kwargs,
                        "weights": s.weights,
                        "sha256": s.sha256,
                        "domain": s.domain,
                        "mean": list(s.mean),
                        "std": list(s.std),
                    }
                    for s in specs.values()
                ]
            }
        )
    )
    return path


def _upload(user: Any, path: Path, track: str = "checkpoint") -> Submission:
    return create_submission(
        SubmissionRequest(
            owner=user,
            benchmark=Benchmark.objects.get(slug=BENCH),
            track=track,
            upload=SimpleUploadedFile(path.name, path.read_bytes()),
            method_name=f"adapter-{track}",
        )
    )


@dataclass
class GpuSetup:
    root: Path
    user: Any
    env: dict[str, str]
    train: Callable[[str, Path], Path]


@pytest.fixture
def gpu(stack: Stack, tiny_backbones: dict, tmp_path: Path, settings: Any) -> GpuSetup:
    """One registered tiny task, an operator, worker env with the tiny backbones, a trainer."""
    from reference_models.train import train_checkpoint

    root = Path(settings.MEDVTAB_DATA_ROOT)
    make_task(root, "tiny-gray", channels=1, size=24)
    sync_benchmark(root, BENCH)
    registry = _registry_file(tiny_backbones, tmp_path / "backbones.json")

    def train(method: str, out: Path) -> Path:
        train_checkpoint(
            root,
            BENCH,
            ["tiny-gray"],
            method,
            out=out,
            epochs=1,
            backbones={"backbone": tiny_backbones["general"].id},
            progress=False,
        )
        return out

    env = stack.worker_env(MEDVTAB_BACKBONE_REGISTRY=str(registry), MEDVTAB_DEVICE="cpu")
    return GpuSetup(root, make_user("operator", staff=True), env, train)


def test_checkpoint_goes_through_a_real_gpu_queue_worker(gpu: GpuSetup, tmp_path: Path) -> None:
    from reference_models.predict import write_predictions

    root, user, env = gpu.root, gpu.user, gpu.env
    ckpt = gpu.train("adapter", tmp_path / "adapter.zip")
    preds = tmp_path / "preds.zip"
    write_predictions(ckpt, root, preds, device="cpu")
    with (
        celery_worker(env, queues="gpu", name="gpu0", log=tmp_path / "gpu.log"),
        celery_worker(env, queues="cpu", name="cpu0", log=tmp_path / "cpu.log"),
    ):
        sub = _upload(user, ckpt)
        twin = _upload(user, preds, track="predictions")
        wait_for(
            lambda: all(Submission.objects.get(pk=s.pk).is_final for s in (sub, twin)),
            180,
            "both tracks to finish",
        )
    sub.refresh_from_db()
    twin.refresh_from_db()
    assert sub.status == Status.SUCCEEDED, sub.error + sub.staff_log
    assert sub.worker.startswith("gpu0@") and twin.worker.startswith("cpu0@")
    header_elements = sum(
        int(__import__("math").prod(shape)) for _, shape in manifest_headers(ckpt).values()
    )
    assert sub.verified_tunable_params == header_elements
    assert sub.device == "cpu" and sub.images_per_second and sub.images_per_second > 0
    via_csv = score_predictions_file(root, BENCH, twin.file.path, bootstrap=50)
    for split in ("test_id", "test_ood"):
        ours = sub.score_json["tasks"]["tiny-gray"][split]["accuracy"]["value"]
        assert ours == via_csv.json["tasks"]["tiny-gray"][split]["accuracy"]["value"]
        assert ours == twin.score_json["tasks"]["tiny-gray"][split]["accuracy"]["value"]


def manifest_headers(path: Path) -> dict:
    from reference_models.archive import check_checkpoint_archive

    return check_checkpoint_archive(path).headers["tiny-gray"]


def test_hostile_checkpoint_fails_and_the_worker_serves_the_next(
    gpu: GpuSetup, tmp_path: Path
) -> None:
    import zipfile

    user, env = gpu.user, gpu.env
    good = gpu.train("linear", tmp_path / "good.zip")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".safetensors"):
                data = data[:-8]  # truncated tensor data: the header now lies about its length
            dst.writestr(info, data)
    with celery_worker(env, queues="gpu", name="gpu0", log=tmp_path / "gpu.log"):
        try:
            first = _upload(user, bad)
        except Exception as exc:  # refused at upload time is fine too: it never reached a worker
            assert "safetensors" in str(exc) or "tensor" in str(exc)
            first = None
        second = _upload(user, good)
        wait_for(lambda: Submission.objects.get(pk=second.pk).is_final, 180, "the good one")
    second.refresh_from_db()
    assert second.status == Status.SUCCEEDED, second.error + second.staff_log
    if first is not None:
        first.refresh_from_db()
        assert first.status == Status.FAILED and "Traceback" not in first.error
        assert first.error
