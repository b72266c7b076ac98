"""Look inside the broker for the submissions it still carries, so the reaper re-sends only the
ones it lost (e.g. Redis restarted without persistence). Messages are identified by task id,
which the server sets to ``submission-<pk>-<random>``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings

_TASK_ID = re.compile(r"^submission-(\d+)-")
QUEUES = ("cpu", "gpu")
PRIORITY_SEPARATOR = "\x06\x16"


def _ids_from_messages(raw_messages: Iterable[bytes | str]) -> set[int]:
    found: set[int] = set()
    for raw in raw_messages:
        try:
            data = json.loads(raw)
        except (ValueError, TypeError):
            continue
        if isinstance(data, list) and data:  # the unacked hash holds [message, exchange, key]
            data = data[0]
        task_id = str((data.get("headers") or {}).get("id", "")) if isinstance(data, dict) else ""
        match = _TASK_ID.match(task_id)
        if match:
            found.add(int(match.group(1)))
    return found


def _redis_ids(url: str) -> set[int]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    keys: list[bytes | str] = []
    for queue in QUEUES:
        keys.append(queue)
        keys.extend(client.scan_iter(match=f"{queue}{PRIORITY_SEPARATOR}*"))
    messages: list[bytes | str] = []
    for key in keys:
        messages.extend(client.lrange(key, 0, -1))
    messages.extend(_recently_delivered(client))
    return _ids_from_messages(messages)


def _recently_delivered(client: Any) -> list[bytes]:
    """Unacknowledged messages delivered less than MEDVTAB_REQUEUE_AFTER_S ago. A worker claims a
    message within moments of its delivery (one message per pool process), so one still
    unclaimed after that was taken by a worker that died (a host lost between delivery and
    claim): Redis would hold it back until the visibility timeout, past the hard time limit.
    Re-sending it is safe: a duplicate delivery of a claimed or final submission is skipped."""
    cutoff = time.time() - settings.MEDVTAB_REQUEUE_AFTER_S  # kombu stamps deliveries with time()
    tags = [tag for tag, at in client.zrange("unacked_index", 0, -1, withscores=True) if at >= cutoff]
    return [m for m in client.hmget("unacked", tags) if m is not None] if tags else []


def _filesystem_ids() -> set[int]:
    folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")))
    if not folder.is_dir():
        return set()
    return _ids_from_messages(p.read_bytes() for p in folder.glob("*.msg"))


def submissions_in_broker() -> set[int] | None:
    """Primary keys the broker still holds (waiting, or delivered moments ago); None if it cannot
    tell."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return _redis_ids(url)
    if url.startswith("filesystem://"):
        return _filesystem_ids()
    return None
