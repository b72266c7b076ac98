"""What the reaper counts as still carried by Redis: waiting messages and fresh deliveries, not a
delivery that a dead worker took and never claimed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from leaderboard.services.broker import submissions_in_broker


def _message(pk: int) -> str:
    return json.dumps({"headers": {"id": f"submission-{pk}-abc123"}, "body": ""})


@pytest.fixture
def broker(redis_url: str, settings: Any) -> Any:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    settings.CELERY_BROKER_URL = redis_url
    settings.MEDVTAB_REQUEUE_AFTER_S = 60
    yield client
    client.flushdb()


def test_waiting_and_freshly_delivered_messages_are_carried_stale_deliveries_are_not(
    broker: Any,
) -> None:
    broker.rpush("cpu", _message(1))
    now = time.time()
    for tag, pk, delivered in (("t-fresh", 2, now - 5), ("t-stale", 3, now - 600)):
        broker.hset("unacked", tag, json.dumps([json.loads(_message(pk)), "", "gpu"]))
        broker.zadd("unacked_index", {tag: delivered})
    assert submissions_in_broker() == {1, 2}
