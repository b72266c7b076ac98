from __future__ import annotations

import socket

from celery import current_task

from leaderboard.tasks.base import medvtab_task
from leaderboard.tasks.heartbeat import beat_once


def _hostname() -> str:
    request = getattr(current_task, "request", None)
    return str(getattr(request, "hostname", None) or socket.gethostname())


@medvtab_task(queue="cpu")
def ping(*, token: str, queue: str = "cpu") -> str:
    """Record that a worker consuming ``queue`` is alive; used by health checks and tests."""
    hostname = _hostname()
    beat_once(hostname, queue, token=token)
    return hostname
