"""A hostile batch does not disturb anyone else: a valid submission queued before it still succeeds,
one sent after it succeeds too, no payload runs, and nothing is written outside the storage roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from leaderboard.models import Status, Submission
from leaderboard.services import submissions as submission_service
from tests.leaderboard.conftest import predictions_zip
from tests.security.cases_checkpoints import CHECKPOINT_CASES
from tests.security.cases_predictions import PREDICTIONS_CASES
from tests.security.corpus import UPLOAD, WORKER, Ctx
from tests.security.entry import API_URL

pytestmark = pytest.mark.django_db(transaction=True)
# Where a member or file name that escaped its folder would land, relative to each root.
ESCAPES = ("../../../tiny-cxr.csv", "../../tiny-cxr.safetensors", "../../evil.safetensors",
           "../../../../escape.zip", "escape.zip", "tiny-cxr.csv")  # fmt: skip


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in root.rglob("*")
        if p.is_file()
    }


def _valid(client: APIClient, root: Path, seed: int) -> int:
    payload = predictions_zip(root, seed=seed)
    body = {"benchmark": "tiny-bench", "track": "predictions", "method_name": f"bystander-{seed}"}
    resp = client.post(
        API_URL, {**body, "file": SimpleUploadedFile("p.zip", payload)}, format="multipart"
    )
    assert resp.status_code == 201, resp.content
    return int(resp.json()["id"])


def test_hostile_batch_leaves_bystanders_and_the_file_system_alone(
    ctx: Ctx, api_client: APIClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = [Path.cwd(), Path(settings.MEDIA_ROOT), ctx.root, tmp_path / "spool", tmp_path]
    before = {r / e: (r / e).exists() for r in roots for e in ESCAPES}
    data_before = _snapshot(ctx.root)

    # The bystander waits in the queue (as behind a busy worker) while the batch arrives.
    held: list[int] = []
    monkeypatch.setattr(submission_service, "enqueue", held.append)
    bystander = _valid(api_client, ctx.root, seed=7)
    monkeypatch.undo()
    assert held == [bystander]
    assert Submission.objects.get(pk=bystander).status == Status.PENDING

    batch = [c for c in PREDICTIONS_CASES + CHECKPOINT_CASES if c.stage == WORKER]
    batch += [c for c in PREDICTIONS_CASES + CHECKPOINT_CASES if c.stage == UPLOAD][::4]
    statuses: dict[str, int] = {}
    for case in batch:
        upload = case.build(ctx)
        file = SimpleUploadedFile(upload.name, upload.content, content_type=upload.content_type)
        body = {"benchmark": "tiny-bench", "track": case.track, "method_name": case.id}
        statuses[case.id] = api_client.post(
            API_URL, {**body, "file": file}, format="multipart"
        ).status_code
    assert all(s in (201, 400) for s in statuses.values()), statuses
    hostile = Submission.objects.exclude(pk=bystander)
    assert hostile.count() == sum(s == 201 for s in statuses.values())
    assert set(hostile.values_list("status", flat=True)) == {Status.FAILED}

    assert submission_service.enqueue(bystander)  # the worker reaches it after the batch
    after = _valid(api_client, ctx.root, seed=8)
    for pk in (bystander, after):
        sub = Submission.objects.get(pk=pk)
        assert sub.status == Status.SUCCEEDED, sub.error
        assert sub.score_json["overall"]["complete"] is True

    assert not ctx.marker.exists()
    assert {r / e: (r / e).exists() for r in roots for e in ESCAPES} == before
    assert _snapshot(ctx.root) == data_before  # the data root is never written
    assert os.listdir(tmp_path / "spool") == []  # every spooled upload was removed
    stored = [p.relative_to(settings.MEDIA_ROOT) for p in Path(settings.MEDIA_ROOT).rglob("*")]
    files = [p for p in stored if (Path(settings.MEDIA_ROOT) / p).is_file()]
    assert len(files) == Submission.objects.count()
    for path in files:  # random names in one flat folder; the clients' names are never used
        assert path.parent == Path("submissions") and len(path.stem) == 32, path
