"""Workers record their own liveness in the database every few seconds, from a thread of the
worker's main process, so the reaper can tell a vanished worker from a slow one.

Each worker process start is an *incarnation* with a fresh id, carried by its heartbeat and by its
claims: a restarted worker keeps its hostname, and without the id its dead predecessor's claims
would look alive until the hard time limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from typing import Any

from celery.signals import worker_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from leaderboard.models import WorkerHeartbeat
from leaderboard.services.reaper import release_predecessors
from leaderboard.tasks.base import INCARNATION_ENV, incarnation
from medvtab.pool import task_process_ids

_stop = threading.Event()
log = logging.getLogger(__name__)


@worker_init.connect
def _new_incarnation(**kwargs: Any) -> None:
    os.environ[INCARNATION_ENV] = uuid.uuid4().hex  # before the pool starts its processes


def beat_once(
    hostname: str, queues: str, *, pool_pids: list[int] | None = None, token: str = ""
) -> None:
    close_old_connections()
    WorkerHeartbeat.objects.beat(
        hostname,
        incarnation=incarnation(),
        queues=queues,
        pid=os.getpid(),
        pool_pids=pool_pids,
        token=token,
    )


def _loop(hostname: str, queues: str, pool: Any, interval: float) -> None:
    failing = False
    released = False
    while not _stop.is_set():
        try:
            beat_once(hostname, queues, pool_pids=task_process_ids(pool))
            if not released:  # once this incarnation is on record, its predecessor's claims are dead
                release_predecessors(hostname, incarnation())
                released = True
            failing = False
        except Exception:  # the database may be briefly unreachable: say so once, keep beating
            if not failing:
                log.warning(
                    "worker heartbeat failed; the reaper may treat %s as gone",
                    hostname,
                    exc_info=True,
                )
            failing = True
        _stop.wait(interval)


def queue_names(sender: Any) -> str:
    """The queues this worker consumes (its -Q selection), e.g. "cpu,gpu"."""
    queues = getattr(getattr(getattr(sender, "app", None), "amqp", None), "queues", None)
    selected = getattr(queues, "consume_from", None) or queues or {}
    return ",".join(sorted(selected))


@worker_ready.connect
def _start(sender: Any = None, **kwargs: Any) -> None:
    hostname = str(getattr(sender, "hostname", "") or "unknown")
    _stop.clear()
    threading.Thread(
        target=_loop,
        args=(
            hostname,
            queue_names(sender),
            getattr(sender, "pool", None),
            settings.MEDVTAB_HEARTBEAT_INTERVAL_S,
        ),
        daemon=True,
        name="heartbeat",
    ).start()


@worker_shutdown.connect
def _stop_beating(sender: Any = None, **kwargs: Any) -> None:
    _stop.set()
    hostname = str(getattr(sender, "hostname", "") or "")
    if hostname:
        with contextlib.suppress(Exception):
            WorkerHeartbeat.objects.filter(hostname=hostname, incarnation=incarnation()).delete()
