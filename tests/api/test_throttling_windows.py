"""Fixed, aligned throttle windows: what they let through over time, and the Retry-After given."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from leaderboard.api.throttling import WindowCounter

URL = "/api/v1/benchmarks/"
WINDOW_START = 600_000.0  # 10000 × 60: a minute's boundary


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Clock:
    settings.MEDVTAB_API_RATES = {"anon": "4/min", "user": "100/min", "upload": "1/min"}
    cache.clear()
    fake = Clock(WINDOW_START)
    monkeypatch.setattr(WindowCounter, "timer", fake)
    return fake


def _codes(client: APIClient, n: int) -> list[int]:
    return [client.get(URL).status_code for _ in range(n)]


def test_the_rate_is_allowed_exactly_then_refused(benchmark: Any, clock: Clock) -> None:
    assert _codes(APIClient(), 5) == [200, 200, 200, 200, 429]


def test_a_refused_call_is_not_counted_and_the_next_window_starts_afresh(
    benchmark: Any, clock: Clock
) -> None:
    client = APIClient()
    assert _codes(client, 14) == [200] * 4 + [429] * 10
    clock.now += 59.9
    assert _codes(client, 1) == [429]
    clock.now += 0.1
    assert _codes(client, 5) == [200, 200, 200, 200, 429]


def test_retry_after_is_the_time_left_in_the_window(benchmark: Any, clock: Clock) -> None:
    client = APIClient()
    clock.now += 15.5
    _codes(client, 4)
    refused = client.get(URL)
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    wait = int(refused["Retry-After"])
    assert wait == 45  # ceil(60 − 15.5)
    clock.now += wait - 1
    assert _codes(client, 1) == [429]
    clock.now += 1
    assert _codes(client, 1) == [200]


def test_counts_survive_an_evicted_counter(benchmark: Any, clock: Clock) -> None:
    client = APIClient()
    _codes(client, 2)
    cache.clear()  # as if the cache had evicted the counter: the window starts again
    assert _codes(client, 5) == [200, 200, 200, 200, 429]


def test_addresses_are_counted_apart(benchmark: Any, clock: Clock) -> None:
    one, other = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
    assert _codes(one, 5)[-1] == 429
    assert _codes(other, 4) == [200] * 4
