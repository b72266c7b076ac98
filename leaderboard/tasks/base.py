"""The one house task decorator: every Celery task of the project is declared through it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from celery import shared_task
from django.conf import settings

F = TypeVar("F", bound=Callable[..., Any])

QUEUES = ("cpu", "gpu")
# The worker process's incarnation (leaderboard/tasks/heartbeat.py sets it at worker start). An
# environment variable, not a module global: pool processes inherit it whether they are forked or
# spawned, and so stamp their claims with their main process's incarnation.
INCARNATION_ENV = "MEDVTAB_WORKER_INCARNATION"


def incarnation() -> str:
    return os.environ.get(INCARNATION_ENV, "")


def time_limits() -> tuple[int, int]:
    """(soft, hard) seconds, both derived from MEDVTAB_TASK_TIME_LIMIT.

    The soft limit leaves the task time to record a clear failure before the hard kill.
    """
    hard = int(settings.CELERY_TASK_TIME_LIMIT)
    return max(hard - max(hard // 10, 5), 1), hard


def medvtab_task(*, queue: str, **options: Any) -> Callable[[F], Any]:
    """acks_late + reject_on_worker_lost, so a killed worker's message is redelivered; the tasks
    themselves are idempotent (lock the row, check the status, replace results in one
    transaction).
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
    soft, hard = time_limits()

    def wrap(fn: F) -> Any:
        return shared_task(  # the only shared_task in the project
            name=f"medvtab.{fn.__name__}",
            acks_late=True,
            reject_on_worker_lost=True,
            soft_time_limit=soft,
            time_limit=hard,
            queue=queue,
            **options,
        )(fn)

    return wrap
