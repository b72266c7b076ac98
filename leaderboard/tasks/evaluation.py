"""Evaluation tasks: predictions on the ``cpu`` queue, checkpoints on the ``gpu`` queue.

Each task takes the submission's primary key only, locks the row, checks the status and returns
early when there is nothing to do, and writes all results in one transaction; a re-delivered task
re-computes and replaces, never duplicates.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import current_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction
from django.db.models.functions import Now

from evaluator.errors import SubmissionInvalid
from evaluator.scoring import ScoreResult, score_predictions_file
from leaderboard.models import FINAL, Status, Submission, WorkerHeartbeat
from leaderboard.models.workers import claim_is_alive
from leaderboard.services.results import store_score
from leaderboard.services.storage import local_copy
from leaderboard.tasks.base import incarnation, medvtab_task, time_limits
from leaderboard.tasks.boards import request_recompute

log = logging.getLogger(__name__)
T = TypeVar("T")
GENERIC_ERROR = (
    "The evaluation failed because of an internal error on the server. The operators have the "
    "details; you may re-run the submission, and it will not count against your quota twice."
)

PROCESS_LOST = (
    "The worker process running the evaluation was killed before it could finish (most likely "
    "by the system for using too much memory)."
)
OOM_HINT = (
    "Submissions that need less memory (a smaller model or batch) avoid this; contact the "
    "operators if it keeps happening."
)
FINISH_BACKOFF_S = 0.5  # doubled after each failed try, up to FINISH_BACKOFF_MAX_S
FINISH_BACKOFF_MAX_S = 5.0
# Long enough for a PostgreSQL restart or fail-over: a worker that gives up while its pool
# process and heartbeat live on leaves a claim the reaper sees as alive until the hard time limit.
FINISH_PATIENCE_S = 120.0


@dataclass(frozen=True)
class Claimant:
    """The worker process taking a submission: its node name, incarnation and pool process."""

    hostname: str
    incarnation: str
    pid: int

    @classmethod
    def current(cls) -> Claimant:
        request = getattr(current_task, "request", None)
        hostname = str(getattr(request, "hostname", None) or "eager")
        return cls(hostname, incarnation(), os.getpid())

    def holds(self, sub: Submission) -> bool:
        return sub.worker == self.hostname and sub.worker_incarnation == self.incarnation


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _previous_state(sub: Submission, me: Claimant) -> str:
    """Of a ``running`` submission being delivered (again): "live" when another process is still
    evaluating it (a duplicate delivery), "process lost" when its worker lives on but the pool
    process running it died, "interrupted" otherwise (its worker is gone, or this very process
    gave up on it)."""
    if me.holds(sub):  # this incarnation's own claim: the local process table is exact
        if sub.worker_pid == me.pid:
            return "interrupted"
        return "live" if _pid_alive(sub.worker_pid) else "process lost"
    alive = WorkerHeartbeat.objects.filter(hostname=sub.worker).alive_claims()
    if claim_is_alive(alive, sub.worker, sub.worker_incarnation, sub.worker_pid):
        return "live"
    return "process lost" if (sub.worker, sub.worker_incarnation) in alive else "interrupted"


def claim(submission_id: int, me: Claimant) -> Submission | None:
    """Lock the row and move it to running, or return None when there is nothing to do."""
    with transaction.atomic():
        sub = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if sub is None or sub.status in FINAL:
            return None
        if sub.status == Status.RUNNING:
            previous = _previous_state(sub, me)
            if previous == "live":
                return None
            if previous == "process lost":  # redelivered by reject_on_worker_lost
                _process_lost(sub)
                if sub.status == Status.FAILED:
                    sub.save()
                    return None
        sub.status = Status.RUNNING
        sub.attempts += 1
        sub.started_at = Now()  # the database's clock, which the reaper compares with
        sub.worker, sub.worker_incarnation, sub.worker_pid = me.hostname, me.incarnation, me.pid
        sub.append_log(f"{Submission.log_stamp()} started on a worker (attempt {sub.attempts})")
        sub.save()
        sub.refresh_from_db(fields=["started_at"])
        return sub


def _process_lost(sub: Submission) -> None:
    """The previous attempt's pool process vanished without a word: killed, and SIGKILL from the
    kernel's OOM killer is by far the likeliest sender. Fail past the attempt limit."""
    if sub.attempts < settings.MEDVTAB_MAX_ATTEMPTS:
        sub.append_log(f"{Submission.log_stamp()} {PROCESS_LOST} Retrying.")
        return
    sub.status = Status.FAILED
    sub.finished_at = Now()
    sub.error = f"{PROCESS_LOST} This happened {sub.attempts} times, so it was given up. {OOM_HINT}"
    sub.append_log(f"{Submission.log_stamp()} failed: {sub.error}")


def patiently(what: str, step: Callable[[], T]) -> T:
    """``step()``, with database errors retried for up to FINISH_PATIENCE_S."""
    deadline = time.monotonic() + FINISH_PATIENCE_S
    attempt = 0
    while True:
        attempt += 1
        try:
            return step()
        except (OperationalError, InterfaceError):
            wait = min(FINISH_BACKOFF_S * 2 ** (attempt - 1), FINISH_BACKOFF_MAX_S)
            if time.monotonic() + wait > deadline:
                raise
            log.warning(
                "%s failed on a database error (attempt %d); retrying in %.1f s",
                what, attempt, wait, exc_info=attempt == 1,
            )
            close_old_connections()  # drop a connection the error left unusable
            time.sleep(wait)


def finish(submission_id: int, me: Claimant, apply: Callable[[Submission], None]) -> bool:
    """Record the outcome; a database error is retried, or the submission would sit in
    ``running`` until the reaper's time-out."""
    return patiently(
        f"recording submission {submission_id}", lambda: _finish_once(submission_id, me, apply)
    )


def _finish_once(submission_id: int, me: Claimant, apply: Callable[[Submission], None]) -> bool:
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=submission_id)
        if sub.status != Status.RUNNING or not me.holds(sub):
            return False  # cancelled, reaped or taken over meanwhile: leave it alone
        apply(sub)
        sub.finished_at = Now()
        sub.save()
    return True


def _succeed(score: ScoreResult, extra: dict[str, Any]) -> Callable[[Submission], None]:
    def apply(sub: Submission) -> None:
        store_score(sub, score)
        transaction.on_commit(lambda: request_recompute(sub.benchmark_id))
        for key, value in extra.items():
            setattr(sub, key, value)
        sub.status = Status.SUCCEEDED
        sub.error = ""
        complete = "complete" if sub.complete else "incomplete (some tasks missing)"
        sub.append_log(f"{Submission.log_stamp()} scored: {len(score.json['tasks'])} task(s), {complete}")

    return apply


def _fail(message: str, staff: str = "") -> Callable[[Submission], None]:
    def apply(sub: Submission) -> None:
        sub.status = Status.FAILED
        sub.error = message
        sub.append_log(f"{Submission.log_stamp()} failed: {message}")
        if staff:
            sub.append_log(f"{Submission.log_stamp()} attempt {sub.attempts}:\n{staff}", staff=True)

    return apply


def run_evaluation(
    submission_id: int, evaluate: Callable[[Submission], tuple[ScoreResult, dict[str, Any]]]
) -> str:
    me = Claimant.current()
    sub = claim(submission_id, me)
    if sub is None:
        return "skipped"
    if settings.MEDVTAB_EVALUATION_DELAY_S:
        time.sleep(settings.MEDVTAB_EVALUATION_DELAY_S)
    try:
        # an evaluation reads the database too: one that meets a restart waits for it, rather
        # than failing a sound submission with an internal error
        score, extra = patiently(f"evaluating submission {submission_id}", lambda: evaluate(sub))
    except SubmissionInvalid as exc:
        finish(submission_id, me, _fail("\n".join(exc.messages)))
        return "failed"
    except SoftTimeLimitExceeded:
        soft, _ = time_limits()  # the soft limit is the one that stopped it
        finish(
            submission_id,
            me,
            _fail(f"The evaluation took longer than the time limit of {soft} s and was stopped."),
        )
        return "failed"
    except Exception:
        log.exception("submission %s failed unexpectedly", submission_id)
        finish(submission_id, me, _fail(GENERIC_ERROR, traceback.format_exc()))
        return "failed"
    finish(submission_id, me, _succeed(score, extra))
    return "succeeded"


def _score_predictions(sub: Submission) -> tuple[ScoreResult, dict[str, Any]]:
    with local_copy(sub.file) as path:
        score = score_predictions_file(
            settings.MEDVTAB_DATA_ROOT,
            sub.benchmark.slug,
            path,
            bootstrap=settings.MEDVTAB_BOOTSTRAP_REPLICATES,
            seed=settings.MEDVTAB_BOOTSTRAP_SEED,
            display_name=sub.original_filename or "submission.zip",
        )
    return score, {}


@medvtab_task(queue="cpu")
def evaluate_predictions(*, submission_id: int) -> str:
    return run_evaluation(submission_id, _score_predictions)


@worker_process_init.connect
def _preload_backbones(**kwargs: Any) -> None:
    """GPU workers (MEDVTAB_PRELOAD_BACKBONES set) load their backbones before the first job."""
    if settings.MEDVTAB_PRELOAD_BACKBONES:
        from leaderboard.checkpoint_eval import preload

        preload()


@medvtab_task(queue="gpu")
def evaluate_checkpoint(*, submission_id: int) -> str:
    from leaderboard.checkpoint_eval import evaluate_checkpoint_submission  # imports torch

    return run_evaluation(submission_id, evaluate_checkpoint_submission)
