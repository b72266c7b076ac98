"""Request throttles. Rates come from settings at request time (``MEDVTAB_API_RATES``), so they
can be changed per deployment and per test; the counters live in Django's cache.

Each throttle counts calls in fixed windows aligned to the epoch (a minute, an hour…) with one
``incr`` per call, instead of DRF's list of request times, which is read, unpickled, extended and
rewritten on every call and holds every call of the window (thousands at a generous rate): see
docs/performance.md for what that costs. The price is the usual one of fixed windows: a client can
pass up to twice the rate across a window's boundary, and Retry-After is the time left to the end of
the window (never more than one window).
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class WindowCounter(SimpleRateThrottle):
    """At most ``num_requests`` calls per aligned window of ``duration`` seconds."""

    def get_rate(self) -> str | None:
        return settings.MEDVTAB_API_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        counter = f"{key}:{window}"
        if self._increment(counter) > self.num_requests:
            # a refused call is not counted, as with DRF's history list
            self.cache.decr(counter)
            return False
        return True

    def _increment(self, key: str) -> int:
        # One round trip in the common case: incr fails only on a window's first call (or after
        # an eviction), and add() loses a race to another process harmlessly.
        try:
            return int(self.cache.incr(key))
        except ValueError:
            if self.cache.add(key, 1, timeout=self.duration + 1):
                return 1
            return int(self.cache.incr(key))

    def wait(self) -> float | None:
        """Seconds until the window ends and the count starts again."""
        return max(1.0, math.ceil(self.duration - self.now % self.duration))


class AnonThrottle(WindowCounter, AnonRateThrottle):
    scope = "anon"


class UserThrottle(WindowCounter, UserRateThrottle):
    scope = "user"

    def allow_request(self, request: Request, view: Any) -> bool:
        # An anonymous request is counted per address by AnonThrottle, which every view with
        # this throttle has too; when its limit is no looser, this one could never refuse it,
        # and skipping it saves a cache round trip per anonymous call.
        if not request.user.is_authenticated and self._anon_is_stricter():
            return True
        return super().allow_request(request, view)

    def _anon_is_stricter(self) -> bool:
        """No more calls over a window at least as long. The periods (s, min, hour, day) divide
        one another and windows are aligned, so each window of the user rate then lies inside
        one of the anonymous rate."""
        count, window = self.parse_rate(settings.MEDVTAB_API_RATES.get("anon"))
        if None in (count, window, self.num_requests, self.duration):
            return False
        return bool(count <= self.num_requests and window >= self.duration)


class UploadThrottle(WindowCounter, UserRateThrottle):
    """Uploads are heavy: a separate, lower rate (quotas are enforced apart, per benchmark)."""

    scope = "upload"

    def allow_request(self, request: Request, view: Any) -> bool:
        if getattr(request, "method", "GET") != "POST":
            return True
        return super().allow_request(request, view)
