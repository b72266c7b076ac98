"""Anonymous calls skip the user throttle only where it could never refuse them."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from rest_framework.test import APIClient

URL = "/api/v1/benchmarks/"


def _codes(n: int) -> list[int]:
    client = APIClient()
    return [client.get(URL).status_code for _ in range(n)]


def test_anonymous_calls_are_limited_by_the_anonymous_rate(benchmark: Any, settings: Any) -> None:
    settings.MEDVTAB_API_RATES = {"anon": "2/min", "user": "5/min", "upload": "1/min"}
    cache.clear()
    assert _codes(3) == [200, 200, 429]


def test_a_stricter_user_rate_still_limits_anonymous_calls(benchmark: Any, settings: Any) -> None:
    settings.MEDVTAB_API_RATES = {"anon": "5/min", "user": "2/min", "upload": "1/min"}
    cache.clear()
    assert _codes(3) == [200, 200, 429]


def test_a_shorter_anonymous_window_keeps_the_user_throttle(benchmark: Any, settings: Any) -> None:
    # 2/s lets 4 through in two seconds, more than 3/hour allows: the user throttle must count
    settings.MEDVTAB_API_RATES = {"anon": "2/s", "user": "3/hour", "upload": "1/min"}
    cache.clear()
    assert _codes(4)[3] == 429
