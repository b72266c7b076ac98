"""Where a submission stands: its queue position and an estimate of the wait."""

from __future__ import annotations

import statistics

from django.db.models import Q
from django.utils import timezone

from leaderboard.models import Status, Submission, Track, WorkerHeartbeat

RECENT_RUNS = 20


def queue_position(sub: Submission) -> int | None:
    """1 = next to run. None when not waiting."""
    if sub.status not in (Status.PENDING, Status.QUEUED):
        return None
    ahead = Submission.objects.filter(
        track=sub.track, status__in=(Status.PENDING, Status.QUEUED)
    ).filter(Q(created__lt=sub.created) | Q(created=sub.created, pk__lt=sub.pk))
    return ahead.count() + 1


def typical_run_s(track: str) -> float:
    rows = (
        Submission.objects.filter(track=track, status=Status.SUCCEEDED, started_at__isnull=False)
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:RECENT_RUNS]
    )
    durations = [(f - s).total_seconds() for s, f in rows if f and s]
    if durations:
        return float(statistics.median(durations))
    return 30.0 if track == Track.PREDICTIONS else 120.0


def workers_for(queue: str) -> int:
    return max(WorkerHeartbeat.objects.fresh().filter(queues__contains=queue).count(), 1)


def estimated_wait_s(sub: Submission, position: int | None) -> int | None:
    if sub.status == Status.RUNNING:
        elapsed = (timezone.now() - (sub.started_at or timezone.now())).total_seconds()
        return max(int(typical_run_s(sub.track) - elapsed), 0)
    if position is None:
        return None
    per_run = typical_run_s(sub.track)
    return int(per_run * position / workers_for(sub.queue))
