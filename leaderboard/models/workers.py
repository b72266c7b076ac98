"""Worker liveness, written by the workers themselves (the broker is never asked)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

# A worker is considered gone after this many missed heartbeats.
MISSED_BEATS = 3


def stale_after_s() -> int:
    return MISSED_BEATS * int(settings.MEDVTAB_HEARTBEAT_INTERVAL_S)


class HeartbeatQuerySet(models.QuerySet["WorkerHeartbeat"]):
    def fresh(self) -> HeartbeatQuerySet:
        return self.filter(
            last_seen__gte=timezone.now() - timezone.timedelta(seconds=stale_after_s())
        )


class WorkerHeartbeat(models.Model):
    hostname = models.CharField(max_length=255, unique=True)
    queues = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    last_seen = models.DateTimeField()
    last_token = models.CharField(max_length=64, blank=True)

    objects = HeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.queues})"
