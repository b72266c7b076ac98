"""Liveness (``/healthz``) and readiness (``/readyz``) for load balancers and compose health checks.

Readiness reports one entry per check with a fixed, short reason: exception texts are never shown,
because they can carry broker passwords, host names or paths.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from leaderboard.models import WorkerHeartbeat

log = logging.getLogger(__name__)
BROKER_TIMEOUT_S = 2.0
DEFAULT_READY_QUEUES = ("cpu", "gpu")
Check = dict[str, Any]


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests; nothing else is asked."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker, a worker per queue and the data root are all usable."""
    checks = {
        "database": _guarded("database", _check_database),
        "broker": _guarded("broker", check_broker),
        "workers": _guarded("workers", _check_workers),
        "data_root": _guarded("data_root", _check_data_root),
    }
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception:  # any failure is a "not ready", never a 500
        log.warning("readiness check %s failed", name, exc_info=True)
        return {"ok": False, "error": f"{name.replace('_', ' ')} check failed"}


def _check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        log.warning("readiness: database unreachable", exc_info=True)
        return {"ok": False, "error": "database unreachable"}
    return {"ok": True}


def check_broker() -> Check:
    from medvtab.celery import app

    timeouts = {"socket_connect_timeout": BROKER_TIMEOUT_S, "socket_timeout": BROKER_TIMEOUT_S}
    try:
        with app.connection_for_write(
            connect_timeout=BROKER_TIMEOUT_S, transport_options=timeouts
        ) as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0.2, timeout=BROKER_TIMEOUT_S
            )
    except Exception:
        log.warning("readiness: broker unreachable", exc_info=True)
        return {"ok": False, "error": "broker unreachable"}
    return {"ok": True}


def ready_queues() -> tuple[str, ...]:
    """The queues that need a live worker (``settings.MEDVTAB_READY_QUEUES``, default cpu and gpu)."""
    return tuple(getattr(settings, "MEDVTAB_READY_QUEUES", DEFAULT_READY_QUEUES))


def _check_workers() -> Check:
    counts = dict.fromkeys(ready_queues(), 0)
    try:
        rows = WorkerHeartbeat.objects.fresh().values_list("queues", flat=True)
        for queues in rows:
            for name in {q.strip() for q in queues.split(",")}:
                if name in counts:
                    counts[name] += 1
    except Exception:
        log.warning("readiness: heartbeats unreadable", exc_info=True)
        return {"ok": False, "error": "worker heartbeats unreadable (database unreachable)"}
    missing = [name for name, count in counts.items() if count == 0]
    check: Check = {"ok": not missing, "queues": counts}
    if missing:
        check["missing"] = missing
        check["error"] = "no live worker for queue " + ", ".join(missing)
    return check


def _check_data_root() -> Check:
    public = os.path.join(settings.MEDVTAB_DATA_ROOT, "public")
    try:
        os.listdir(public)  # raises when missing, not a folder or unreadable
    except OSError:
        return {"ok": False, "error": "public data tree missing or unreadable"}
    return {"ok": True}
