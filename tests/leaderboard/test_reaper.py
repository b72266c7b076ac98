"""Worker liveness and the reaper: the database's clock, incarnations, killed pool processes, and
the evaluation task's own failure paths (soft time limit, a transient error while recording)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, connection
from django.db.models.functions import Now
from django.utils import timezone

from evaluator.errors import SubmissionInvalid
from leaderboard.models import Benchmark, Status, Submission, WorkerHeartbeat
from leaderboard.services import reaper, submissions
from leaderboard.tasks import evaluation
from leaderboard.tasks.base import time_limits
from leaderboard.tasks.evaluation import Claimant, claim, run_evaluation
from tests.leaderboard.conftest import make_user

HOUR = timedelta(hours=1)


def db_now(model: Any) -> datetime:
    """The database's clock, read through a table that has a row."""
    return model.objects.annotate(n=Now()).values_list("n", flat=True)[0]


@pytest.fixture
def skewed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """This process's clock off by some amount, as a worker or beat host's clock may be."""

    def skew(by: timedelta) -> None:
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + by)

    yield skew


@pytest.fixture
def running(benchmark: Benchmark, settings: Any) -> Any:
    settings.MEDVTAB_HEARTBEAT_INTERVAL_S = 10  # stale after 30 s
    settings.MEDVTAB_MAX_ATTEMPTS = 3
    owner = make_user("submitter")

    def make(*, worker: str = "w@host", incarnation: str = "one", pid: int | None = 4242,
             started_ago_s: float = 120, attempts: int = 1) -> Submission:
        sub = Submission.objects.create(
            owner=owner, benchmark=benchmark, track="predictions", file="submissions/x.zip",
            method_name="m", status=Status.RUNNING, attempts=attempts, worker=worker,
            worker_incarnation=incarnation, worker_pid=pid,
        )
        Submission.objects.filter(pk=sub.pk).update(
            started_at=Now() - timedelta(seconds=started_ago_s)
        )
        return sub

    return make


def _status(sub: Submission) -> str:
    return Submission.objects.values_list("status", flat=True).get(pk=sub.pk)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --- the database's clock ------------------------------------------------------------------------


@pytest.mark.django_db
def test_heartbeat_is_stamped_with_the_database_clock(skewed_clock: Any, settings: Any) -> None:
    settings.MEDVTAB_HEARTBEAT_INTERVAL_S = 10
    skewed_clock(-HOUR)  # this worker's clock is an hour late
    WorkerHeartbeat.objects.beat("late@host", incarnation="", queues="cpu", pid=1, pool_pids=[7])
    beat = WorkerHeartbeat.objects.get(hostname="late@host")
    assert abs(beat.last_seen - db_now(WorkerHeartbeat)) < timedelta(seconds=5)
    assert WorkerHeartbeat.objects.alive_claims() == {("late@host", ""): {7}}


@pytest.mark.django_db
def test_claim_is_stamped_with_the_database_clock(running: Any, skewed_clock: Any) -> None:
    sub = running()
    Submission.objects.filter(pk=sub.pk).update(status=Status.QUEUED)
    skewed_clock(HOUR)  # an hour early: the claim would look fresh for an hour
    claimed = claim(sub.pk, Claimant("w@host", "two", 99))
    assert claimed is not None
    assert abs(claimed.started_at - db_now(Submission)) < timedelta(seconds=5)
    assert (claimed.worker, claimed.worker_incarnation, claimed.worker_pid) == ("w@host", "two", 99)


@pytest.mark.django_db
def test_reaper_compares_on_the_database_clock(running: Any, skewed_clock: Any) -> None:
    sub = running(started_ago_s=120)  # its worker never beat: gone
    skewed_clock(-HOUR)  # the beat host's clock is an hour late
    report = reaper.reap()
    assert report.requeued == [sub.pk]


@pytest.mark.django_db
def test_web_host_stamps_queue_and_cancel_times_with_the_database_clock(
    running: Any, skewed_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Sent:
        def apply_async(self, **_: Any) -> None:  # the broker took it
            return None

    monkeypatch.setattr(submissions, "_task_for", lambda track, **_: Sent())
    queued, cancelled = running(), running()
    Submission.objects.filter(pk__in=[queued.pk, cancelled.pk]).update(status=Status.PENDING)
    skewed_clock(HOUR)  # the web host's clock is an hour early: the reaper would wait an hour
    assert submissions.enqueue(queued.pk)
    assert submissions.cancel(cancelled, queued.owner)
    queued.refresh_from_db()
    cancelled.refresh_from_db()
    assert queued.queued_at is not None and cancelled.finished_at is not None
    assert abs(queued.queued_at - db_now(Submission)) < timedelta(seconds=5)
    assert abs(cancelled.finished_at - db_now(Submission)) < timedelta(seconds=5)


# --- incarnations and pool processes -------------------------------------------------------------


@pytest.mark.django_db
def test_claim_of_an_earlier_incarnation_is_dead_though_the_hostname_beats(running: Any) -> None:
    sub = running(incarnation="before-restart")
    WorkerHeartbeat.objects.beat("w@host", incarnation="after-restart", queues="cpu", pid=1,
                                 pool_pids=[4242])
    report = reaper.reap()
    assert report.requeued == [sub.pk]
    assert _status(sub) == Status.QUEUED


@pytest.mark.django_db
def test_live_claim_is_left_alone(running: Any) -> None:
    sub = running()
    WorkerHeartbeat.objects.beat("w@host", incarnation="one", queues="cpu", pid=1, pool_pids=[4242])
    assert reaper.reap().requeued == []
    assert _status(sub) == Status.RUNNING


@pytest.mark.django_db
def test_claim_of_a_killed_pool_process_is_dead_though_its_worker_beats(running: Any) -> None:
    sub = running(pid=4242)
    WorkerHeartbeat.objects.beat("w@host", incarnation="one", queues="cpu", pid=1, pool_pids=[5353])
    assert reaper.reap().requeued == [sub.pk]


@pytest.mark.django_db
def test_restarted_worker_releases_its_predecessors_claims_at_once(running: Any) -> None:
    old = running(incarnation="old", started_ago_s=1)  # too recent for the periodic reaper
    mine = running(incarnation="new", started_ago_s=1)
    other = running(worker="x@host", incarnation="old", started_ago_s=1)
    assert reaper.reap().requeued == []
    assert reaper.release_predecessors("w@host", "new") == [old.pk]
    assert [_status(s) for s in (old, mine, other)] == [Status.QUEUED, Status.RUNNING, Status.RUNNING]
    assert "restarted" in Submission.objects.get(pk=old.pk).user_log


@pytest.mark.django_db
def test_reaper_gives_up_naming_memory(running: Any) -> None:
    sub = running(attempts=3)
    assert reaper.reap().failed == [sub.pk]
    sub.refresh_from_db()
    assert sub.status == Status.FAILED and "memory" in sub.error and sub.finished_at is not None


@pytest.mark.django_db
def test_redelivery_after_the_pool_process_died_retries_then_fails(running: Any) -> None:
    me = Claimant("w@host", "one", 777)
    sub = running(pid=dead_pid(), attempts=1)
    again = claim(sub.pk, me)
    assert again is not None and again.attempts == 2 and again.worker_pid == 777
    assert "killed" in again.user_log
    Submission.objects.filter(pk=sub.pk).update(worker_pid=dead_pid(), attempts=3)
    assert claim(sub.pk, me) is None
    sub.refresh_from_db()
    assert sub.status == Status.FAILED
    assert "memory" in sub.error and "3 times" in sub.error


@pytest.mark.django_db
def test_duplicate_delivery_while_the_claiming_process_lives_is_skipped(running: Any) -> None:
    with subprocess.Popen(["sleep", "30"]) as alive:
        try:
            sub = running(pid=alive.pid)
            assert claim(sub.pk, Claimant("w@host", "one", 777)) is None
            assert _status(sub) == Status.RUNNING
        finally:
            alive.kill()


@pytest.mark.django_db
def test_duplicate_delivery_from_another_live_worker_is_skipped(running: Any) -> None:
    sub = running(worker="a@host", incarnation="one", pid=11)
    WorkerHeartbeat.objects.beat("a@host", incarnation="one", queues="cpu", pid=1, pool_pids=[11])
    assert claim(sub.pk, Claimant("b@host", "two", 22)) is None
    WorkerHeartbeat.objects.beat("a@host", incarnation="one", queues="cpu", pid=1, pool_pids=[12])
    taken = claim(sub.pk, Claimant("b@host", "two", 22))  # a's pool process 11 died
    assert taken is not None and taken.worker == "b@host" and "killed" in taken.user_log


# --- the evaluation task's failure paths ---------------------------------------------------------


@pytest.mark.django_db
def test_soft_time_limit_message_names_the_soft_limit(running: Any, settings: Any) -> None:
    settings.CELERY_TASK_TIME_LIMIT = 100
    soft, hard = time_limits()
    sub = running()
    Submission.objects.filter(pk=sub.pk).update(status=Status.QUEUED)

    def slow(_: Submission) -> Any:
        raise SoftTimeLimitExceeded()

    assert run_evaluation(sub.pk, slow) == "failed"
    sub.refresh_from_db()
    assert soft != hard
    assert f"time limit of {soft} s" in sub.error


@pytest.mark.django_db(transaction=True)
def test_transient_database_error_while_recording_is_retried(
    running: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation, "FINISH_BACKOFF_S", 0.01)
    sub = running()
    Submission.objects.filter(pk=sub.pk).update(status=Status.QUEUED)
    failures = {"left": 2}

    def flaky(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # the database drops the write that records the outcome, twice
        records_outcome = sql.startswith("UPDATE") and Status.FAILED in (params or ())
        if failures["left"] and records_outcome:
            failures["left"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    def bad_file(_: Submission) -> Any:
        raise SubmissionInvalid("the file is not a zip archive")

    with connection.execute_wrapper(flaky):
        assert run_evaluation(sub.pk, bad_file) == "failed"
    sub.refresh_from_db()
    assert failures["left"] == 0
    assert sub.status == Status.FAILED and sub.error == "the file is not a zip archive"


def _outcome_writes_fail(failures: dict[str, int]) -> Any:
    def flaky(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if failures["left"] and sql.startswith("UPDATE") and Status.FAILED in (params or ()):
            failures["left"] -= 1
            raise OperationalError("connection to server failed: Connection refused")
        return execute(sql, params, many, context)

    return flaky


@pytest.mark.django_db(transaction=True)
def test_an_outage_longer_than_a_few_tries_is_outlasted_while_recording(
    running: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database restart takes longer than four quick tries: giving up would leave the claim
    alive (its pool process and heartbeat live on) and the submission running until the time
    limit, so the worker keeps trying for FINISH_PATIENCE_S."""
    monkeypatch.setattr(evaluation, "FINISH_BACKOFF_S", 0.001)
    monkeypatch.setattr(evaluation, "FINISH_BACKOFF_MAX_S", 0.002)
    sub = running()
    Submission.objects.filter(pk=sub.pk).update(status=Status.QUEUED)
    failures = {"left": 12}

    def bad_file(_: Submission) -> Any:
        raise SubmissionInvalid("the file is not a zip archive")

    with connection.execute_wrapper(_outcome_writes_fail(failures)):
        assert run_evaluation(sub.pk, bad_file) == "failed"
    sub.refresh_from_db()
    assert failures["left"] == 0 and sub.status == Status.FAILED


@pytest.mark.django_db(transaction=True)
def test_an_evaluation_that_meets_a_database_outage_waits_for_it(
    running: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation, "FINISH_BACKOFF_S", 0.001)
    sub = running()
    Submission.objects.filter(pk=sub.pk).update(status=Status.QUEUED)
    outage = {"left": 3}

    def reads_the_database(_: Submission) -> Any:
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("terminating connection due to administrator command")
        raise SubmissionInvalid("the file is not a zip archive")

    assert run_evaluation(sub.pk, reads_the_database) == "failed"
    sub.refresh_from_db()
    # the outcome is the submission's own, not the generic internal error of the outage
    assert outage["left"] == 0 and sub.error == "the file is not a zip archive"


@pytest.mark.django_db(transaction=True)
def test_recording_gives_up_after_its_patience(
    running: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation, "FINISH_BACKOFF_S", 0.01)
    monkeypatch.setattr(evaluation, "FINISH_PATIENCE_S", 0.05)
    sub = running()
    Submission.objects.filter(pk=sub.pk).update(status=Status.QUEUED)

    def bad_file(_: Submission) -> Any:
        raise SubmissionInvalid("the file is not a zip archive")

    with connection.execute_wrapper(_outcome_writes_fail({"left": 10**6})), pytest.raises(
        OperationalError
    ):
        run_evaluation(sub.pk, bad_file)
