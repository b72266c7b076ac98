"""Workers record their own liveness in the database every few seconds, from a thread of the
worker's main process, so the reaper can tell a vanished worker from a slow one."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from leaderboard.models import WorkerHeartbeat

_stop = threading.Event()
log = logging.getLogger(__name__)


def beat_once(hostname: str, queues: str, *, token: str = "") -> None:
    close_old_connections()
    defaults: dict[str, object] = {
        "queues": queues,
        "pid": os.getpid(),
        "last_seen": timezone.now(),
    }
    if token:  # only a ping carries one; the periodic beat must not erase it
        defaults["last_token"] = token[:64]
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults=defaults)


def _loop(hostname: str, queues: str) -> None:
    interval = settings.MEDVTAB_HEARTBEAT_INTERVAL_S
    failing = False
    while not _stop.is_set():
        try:
            beat_once(hostname, queues)
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
        target=_loop, args=(hostname, queue_names(sender)), daemon=True, name="heartbeat"
    ).start()


@worker_shutdown.connect
def _stop_beating(sender: Any = None, **kwargs: Any) -> None:
    _stop.set()
    hostname = str(getattr(sender, "hostname", "") or "")
    if hostname:
        with contextlib.suppress(Exception):
            WorkerHeartbeat.objects.filter(hostname=hostname).delete()


def alive_hostnames() -> set[str]:
    return set(WorkerHeartbeat.objects.fresh().values_list("hostname", flat=True))
