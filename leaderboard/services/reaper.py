"""The reaper: no submission is ever lost or stranded.

- ``running`` past the hard time limit, or on a worker whose heartbeat stopped: re-queued up to
  MEDVTAB_MAX_ATTEMPTS attempts, then failed with a message;
- ``queued`` but absent from the broker (lost with a broker restart): re-sent;
- ``pending`` that never reached the broker (it was down at submit time): sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from leaderboard.models import Status, Submission
from leaderboard.models.workers import stale_after_s
from leaderboard.services.broker import submissions_in_broker
from leaderboard.services.submissions import enqueue
from leaderboard.tasks.heartbeat import alive_hostnames

log = logging.getLogger(__name__)


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


def _stranded_running(now: timezone.datetime) -> list[int]:
    hard = settings.CELERY_TASK_TIME_LIMIT
    grace = timedelta(seconds=stale_after_s())
    alive = alive_hostnames()
    stranded = []
    for pk, worker, started in Submission.objects.filter(status=Status.RUNNING).values_list(
        "pk", "worker", "started_at"
    ):
        started = started or now
        overdue = started + timedelta(seconds=hard) + grace < now
        vanished = worker not in alive and started + grace < now
        if overdue or vanished:
            stranded.append(pk)
    return stranded


def _requeue_or_fail(pk: int, report: ReapReport) -> None:
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=pk)
        if sub.status != Status.RUNNING:
            return
        now = timezone.now()
        if sub.attempts >= settings.MEDVTAB_MAX_ATTEMPTS:
            sub.status = Status.FAILED
            sub.finished_at = now
            sub.error = (
                f"The evaluation was interrupted {sub.attempts} times (a worker stopped or the "
                "time limit was reached) and was given up. Please re-run it; if it fails again, "
                "contact the operators."
            )
            sub.append_log(f"{now:%Y-%m-%d %H:%M:%S} failed: {sub.error}")
            report.failed.append(pk)
        else:
            sub.status = Status.QUEUED
            sub.queued_at = now
            sub.append_log(
                f"{now:%Y-%m-%d %H:%M:%S} the worker stopped answering; re-queued "
                f"(attempt {sub.attempts} of {settings.MEDVTAB_MAX_ATTEMPTS} used)"
            )
            sub.append_log(f"{now:%Y-%m-%d %H:%M:%S} reaped from worker {sub.worker!r}", staff=True)
            report.requeued.append(pk)
            transaction.on_commit(lambda: enqueue(pk))
        sub.save()


def _lost_or_unsent(now: timezone.datetime) -> list[int]:
    after = now - timedelta(seconds=settings.MEDVTAB_REQUEUE_AFTER_S)
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


def reap() -> ReapReport:
    report = ReapReport()
    now = timezone.now()
    for pk in _stranded_running(now):
        _requeue_or_fail(pk, report)
    for pk in _lost_or_unsent(now):
        if enqueue(pk):
            report.resent.append(pk)
    if report.requeued or report.failed or report.resent:
        log.info("reaper: %s", report)
    return report
