"""The reaper: no submission is ever lost or stranded.

- ``running`` past the hard time limit, or claimed by a worker process that is gone (no fresh
  heartbeat of its incarnation listing its pool process): re-queued up to MEDVTAB_MAX_ATTEMPTS
  attempts, then failed with a message; a restarted worker releases its predecessor's claims
  itself, at once (``release_predecessors``);
- ``queued`` but absent from the broker (lost with a broker restart): re-sent;
- ``pending`` that never reached the broker (it was down at submit time): sent.

Every comparison uses the database's clock (docs/operations.md, "Clocks").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Now

from leaderboard.models import Status, Submission, WorkerHeartbeat
from leaderboard.models.workers import claim_is_alive, db_now_minus, stale_after_s
from leaderboard.services.broker import submissions_in_broker
from leaderboard.services.submissions import enqueue

log = logging.getLogger(__name__)
GAVE_UP = (
    "The evaluation was interrupted {attempts} times and was given up: the worker running it "
    "stopped, most often because it ran out of memory (a large model or batch), or the time "
    "limit was reached. Please re-run it; if it fails again, contact the operators."
)


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"re-queued {len(self.requeued)} interrupted, failed {len(self.failed)} after too many "
            f"attempts, re-sent {len(self.resent)} lost or unsent"
        )


def _flag(condition: Q) -> models.ExpressionWrapper:
    return models.ExpressionWrapper(condition, output_field=models.BooleanField())


def _stranded_running() -> list[int]:
    grace = stale_after_s()
    rows = (
        Submission.objects.filter(status=Status.RUNNING)
        .annotate(
            overdue=_flag(Q(started_at__lt=db_now_minus(settings.CELERY_TASK_TIME_LIMIT + grace))),
            # just claimed: the claimant's first heartbeat may not be written yet
            recent=_flag(Q(started_at__isnull=True) | Q(started_at__gte=db_now_minus(grace))),
        )
        .values_list("pk", "worker", "worker_incarnation", "worker_pid", "overdue", "recent")
    )
    alive = WorkerHeartbeat.objects.alive_claims()
    stranded = []
    for pk, worker, incarnation, pid, overdue, recent in rows:
        if overdue or not (recent or claim_is_alive(alive, worker, incarnation, pid)):
            stranded.append(pk)
    return stranded


def _requeue_or_fail(pk: int, report: ReapReport, reason: str) -> None:
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=pk)
        if sub.status != Status.RUNNING:
            return
        stamp = Submission.log_stamp()
        if sub.attempts >= settings.MEDVTAB_MAX_ATTEMPTS:
            sub.status = Status.FAILED
            sub.finished_at = Now()
            sub.error = GAVE_UP.format(attempts=sub.attempts)
            sub.append_log(f"{stamp} failed: {sub.error}")
            report.failed.append(pk)
        else:
            sub.status = Status.QUEUED
            sub.queued_at = Now()
            sub.append_log(
                f"{stamp} {reason}; re-queued "
                f"(attempt {sub.attempts} of {settings.MEDVTAB_MAX_ATTEMPTS} used)"
            )
            report.requeued.append(pk)
            transaction.on_commit(lambda: enqueue(pk))
        sub.append_log(
            f"{stamp} reaped from worker {sub.worker!r} incarnation {sub.worker_incarnation!r}",
            staff=True,
        )
        sub.save()


def _lost_or_unsent() -> list[int]:
    after = db_now_minus(settings.MEDVTAB_REQUEUE_AFTER_S)
    pending = list(
        Submission.objects.filter(status=Status.PENDING, created__lt=after).values_list(
            "pk", flat=True
        )
    )
    queued = list(
        Submission.objects.filter(status=Status.QUEUED, queued_at__lt=after).values_list(
            "pk", flat=True
        )
    )
    if not queued:
        return pending
    try:
        carried = submissions_in_broker()
    except Exception as exc:  # broker down: nothing can be re-sent now anyway
        log.warning("reaper could not inspect the broker: %s", exc)
        return []
    if carried is None:
        return pending
    return pending + [pk for pk in queued if pk not in carried]


def release_predecessors(hostname: str, incarnation: str) -> list[int]:
    """Re-queue (or fail) at once what earlier incarnations of this worker had claimed; called by
    a worker as soon as its own first heartbeat is recorded. The filesystem broker never
    redelivers a message its dead consumer had taken, so this is what resumes the demo's work."""
    report = ReapReport()
    claims = Submission.objects.filter(status=Status.RUNNING, worker=hostname).exclude(
        worker_incarnation=incarnation
    )
    for pk in claims.values_list("pk", flat=True):
        _requeue_or_fail(pk, report, "the worker restarted while running it")
    if report.requeued or report.failed:
        log.info("worker %s restarted: %s", hostname, report)
    return report.requeued + report.failed


def reap() -> ReapReport:
    report = ReapReport()
    for pk in _stranded_running():
        _requeue_or_fail(pk, report, "the worker stopped answering")
    for pk in _lost_or_unsent():
        if enqueue(pk):
            report.resent.append(pk)
    if report.requeued or report.failed or report.resent:
        log.info("reaper: %s", report)
    return report
