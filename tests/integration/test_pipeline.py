"""The pipeline with real processes: Celery workers, a private Redis and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from evaluator.scoring import score_predictions_file
from leaderboard.models import Result, Status, Submission
from leaderboard.services.reaper import reap
from leaderboard.services.submissions import SubmissionRequest, create_submission
from tests.integration.conftest import Stack
from tests.leaderboard.conftest import make_user, predictions_zip
from tests.procs import celery_worker, kill_group, wait_for

pytestmark = pytest.mark.integration


def _submit(user: Any, root: Path, *, seed: int = 0, corrupt: Any = None) -> Submission:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from leaderboard.models import Benchmark

    upload = SimpleUploadedFile("p.zip", predictions_zip(root, seed=seed, corrupt=corrupt))
    return create_submission(SubmissionRequest(
        owner=user, benchmark=Benchmark.objects.get(slug="tiny-bench"), track="predictions",
        upload=upload, method_name=f"method-{seed}",
    ))


@pytest.fixture
def registered(stack: Stack, tiny_bundles: Path) -> Any:
    from leaderboard.services.registration import sync_benchmark

    sync_benchmark(tiny_bundles, "tiny-bench")
    return make_user("operator", staff=True)


def _status(pk: int) -> str:
    return Submission.objects.values_list("status", flat=True).get(pk=pk)


def test_upload_to_succeeded_and_failed(stack: Stack, registered: Any, tiny_bundles: Path) -> None:
    with celery_worker(stack.worker_env(), name="life", log=stack.tmp / "w.log"):
        good = _submit(registered, tiny_bundles)
        bad = _submit(registered, tiny_bundles, seed=1, corrupt=lambda s, t: t.replace(",", ";"))
        wait_for(lambda: _status(good.pk) in ("succeeded", "failed") and _status(bad.pk) in (
            "succeeded", "failed"), 90, "both submissions to finish")
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == Status.SUCCEEDED, good.error + good.staff_log
    assert good.worker.startswith("life@")
    cli = score_predictions_file(tiny_bundles, "tiny-bench", good.file.path, bootstrap=50, seed=0)
    assert good.score_json == cli.json
    assert bad.status == Status.FAILED
    assert "image_id" in bad.error or "column" in bad.error


def test_worker_killed_mid_evaluation_completes_exactly_once(
    stack: Stack, registered: Any, tiny_bundles: Path
) -> None:
    slow = stack.worker_env(MEDVTAB_EVALUATION_DELAY_S="6")
    with celery_worker(slow, name="doomed", log=stack.tmp / "w1.log") as doomed:
        sub = _submit(registered, tiny_bundles)
        wait_for(lambda: _status(sub.pk) == "running", 60, "the evaluation to start")
        time.sleep(1)
        kill_group(doomed)  # SIGKILL the whole worker in the middle of the evaluation
    assert _status(sub.pk) == "running"
    with celery_worker(stack.worker_env(), name="rescuer", log=stack.tmp / "w2.log"):
        deadline = time.monotonic() + 90
        while _status(sub.pk) != "succeeded" and time.monotonic() < deadline:
            reap()  # what beat does every minute; Redis redelivery may get there first
            time.sleep(1)
    sub.refresh_from_db()
    assert sub.status == Status.SUCCEEDED, sub.user_log
    assert sub.worker.startswith("rescuer@")
    assert sub.attempts == 2
    expected = sum(len(e[s]) for e in sub.score_json["tasks"].values() for s in ("test_id", "test_ood"))
    assert Result.objects.filter(submission=sub).count() == expected


def test_broker_restart_without_persistence_loses_nothing(
    stack: Stack, registered: Any, tiny_bundles: Path, settings: Any
) -> None:
    subs = [_submit(registered, tiny_bundles, seed=i) for i in range(4)]
    assert {_status(s.pk) for s in subs} == {"queued"}
    stack.restart()  # every queued message is gone
    settings.MEDVTAB_REQUEUE_AFTER_S = 1
    time.sleep(1.5)
    report = reap()
    assert sorted(report.resent) == sorted(s.pk for s in subs)
    with celery_worker(stack.worker_env(), name="after", log=stack.tmp / "w.log"):
        wait_for(lambda: all(_status(s.pk) == "succeeded" for s in subs), 120,
                 "every submission to succeed after the broker restart")


def test_hundred_submissions_two_workers(stack: Stack, registered: Any, tiny_bundles: Path) -> None:
    payload = predictions_zip(tiny_bundles, tasks=["tiny-cxr"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    from leaderboard.models import Benchmark

    bench = Benchmark.objects.get(slug="tiny-bench")
    env = stack.worker_env(MEDVTAB_BOOTSTRAP_REPLICATES="20")
    with celery_worker(env, name="a", log=stack.tmp / "a.log"), \
            celery_worker(env, name="b", log=stack.tmp / "b.log"):
        pks = [
            create_submission(SubmissionRequest(
                owner=registered, benchmark=bench, track="predictions",
                upload=SimpleUploadedFile("p.zip", payload), method_name=f"m{i}",
            )).pk
            for i in range(100)
        ]
        wait_for(
            lambda: Submission.objects.filter(pk__in=pks, status="succeeded").count() == 100,
            300, "100 submissions to succeed", interval=1,
        )
    subs = Submission.objects.filter(pk__in=pks)
    assert {s.attempts for s in subs} == {1}
    assert {s.worker.split("@")[0] for s in subs} == {"a", "b"}
    per_sub = {s.pk: len(s.score_json["tasks"]["tiny-cxr"]["test_id"]) * 2 for s in subs}
    assert Result.objects.filter(submission__in=pks).count() == sum(per_sub.values())
