"""Evaluation tasks: predictions on the ``cpu`` queue, checkpoints on the ``gpu`` queue.

Each task takes the submission's primary key only, locks the row, checks the status and returns
early when there is nothing to do, and writes all results in one transaction; a re-delivered task
re-computes and replaces, never duplicates.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

from celery import current_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluator.errors import SubmissionInvalid
from evaluator.scoring import ScoreResult, score_predictions_file
from leaderboard.models import FINAL, Status, Submission
from leaderboard.services.boards import request_recompute
from leaderboard.services.results import store_score
from leaderboard.services.storage import local_copy
from leaderboard.tasks.base import medvtab_task
from leaderboard.tasks.heartbeat import alive_hostnames

log = logging.getLogger(__name__)
GENERIC_ERROR = (
    "The evaluation failed because of an internal error on the server. The operators have the "
    "details; you may re-run the submission, and it will not count against your quota twice."
)


class ExpectedFailure(Exception):
    """A user-facing failure (bad file, bad checkpoint): the message goes to the user."""


def _hostname() -> str:
    request = getattr(current_task, "request", None)
    return str(getattr(request, "hostname", None) or "eager")


def _stamp() -> str:
    return f"{timezone.now():%Y-%m-%d %H:%M:%S}"


def claim(submission_id: int, hostname: str) -> Submission | None:
    """Lock the row and move it to running, or return None when there is nothing to do."""
    with transaction.atomic():
        sub = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if sub is None or sub.status in FINAL:
            return None
        if (
            sub.status == Status.RUNNING
            and sub.worker != hostname
            and sub.worker in alive_hostnames()
        ):
            return None  # another live worker has it (a duplicate delivery)
        sub.status = Status.RUNNING
        sub.attempts += 1
        sub.started_at = timezone.now()
        sub.worker = hostname
        sub.append_log(f"{_stamp()} started on a worker (attempt {sub.attempts})")
        sub.save()
        return sub


def finish(submission_id: int, hostname: str, apply: Callable[[Submission], None]) -> bool:
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=submission_id)
        if sub.status != Status.RUNNING or sub.worker != hostname:
            return False  # cancelled, reaped or taken over meanwhile: leave it alone
        apply(sub)
        sub.finished_at = timezone.now()
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
        sub.append_log(f"{_stamp()} scored: {len(score.json['tasks'])} task(s), {complete}")

    return apply


def _fail(message: str, staff: str = "") -> Callable[[Submission], None]:
    def apply(sub: Submission) -> None:
        sub.status = Status.FAILED
        sub.error = message
        sub.append_log(f"{_stamp()} failed: {message}")
        if staff:
            sub.append_log(f"{_stamp()} attempt {sub.attempts}:\n{staff}", staff=True)

    return apply


def run_evaluation(
    submission_id: int, evaluate: Callable[[Submission], tuple[ScoreResult, dict[str, Any]]]
) -> str:
    hostname = _hostname()
    sub = claim(submission_id, hostname)
    if sub is None:
        return "skipped"
    if settings.MEDVTAB_EVALUATION_DELAY_S:
        time.sleep(settings.MEDVTAB_EVALUATION_DELAY_S)
    try:
        score, extra = evaluate(sub)
    except (SubmissionInvalid, ExpectedFailure) as exc:
        messages = getattr(exc, "messages", None) or [str(exc)]
        finish(submission_id, hostname, _fail("\n".join(messages)))
        return "failed"
    except SoftTimeLimitExceeded:
        limit = settings.CELERY_TASK_TIME_LIMIT
        finish(
            submission_id,
            hostname,
            _fail(f"The evaluation took longer than the time limit of {limit} s and was stopped."),
        )
        return "failed"
    except Exception:
        log.exception("submission %s failed unexpectedly", submission_id)
        finish(submission_id, hostname, _fail(GENERIC_ERROR, traceback.format_exc()))
        return "failed"
    finish(submission_id, hostname, _succeed(score, extra))
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
