from __future__ import annotations

import os
import socket

from celery import current_task
from django.utils import timezone

from leaderboard.models import WorkerHeartbeat
from leaderboard.tasks.base import medvtab_task


def _hostname() -> str:
    request = getattr(current_task, "request", None)
    return str(getattr(request, "hostname", None) or socket.gethostname())


@medvtab_task(queue="cpu")
def ping(*, token: str, queue: str = "cpu") -> str:
    """Record that a worker consuming ``queue`` is alive; used by health checks and tests."""
    hostname = _hostname()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={
            "queues": queue,
            "pid": os.getpid(),
            "last_seen": timezone.now(),
            "last_token": token[:64],
        },
    )
    return hostname
