"""Request throttles. Rates come from settings at request time (``MEDVTAB_API_RATES``), so they
can be changed per deployment and per test; the counters live in Django's cache."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class AnonThrottle(AnonRateThrottle):
    scope = "anon"

    def get_rate(self) -> str | None:
        return settings.MEDVTAB_API_RATES.get(self.scope)


class UserThrottle(UserRateThrottle):
    scope = "user"

    def get_rate(self) -> str | None:
        return settings.MEDVTAB_API_RATES.get(self.scope)

    def allow_request(self, request: Request, view: Any) -> bool:
        # An anonymous request is counted per address by AnonThrottle, which every view with
        # this throttle has too; when its limit is no looser, this one could never refuse it,
        # and skipping it saves two cache round trips per anonymous call.
        if not request.user.is_authenticated and self._anon_is_stricter():
            return True
        return super().allow_request(request, view)

    def _anon_is_stricter(self) -> bool:
        """No more requests over a window at least as long: every window of the user rate lies
        in one of the anonymous rate."""
        count, window = self.parse_rate(settings.MEDVTAB_API_RATES.get("anon"))
        if None in (count, window, self.num_requests, self.duration):
            return False
        return bool(count <= self.num_requests and window >= self.duration)


class UploadThrottle(UserRateThrottle):
    """Uploads are heavy: a separate, lower rate (quotas are enforced apart, per benchmark)."""

    scope = "upload"

    def get_rate(self) -> str | None:
        return settings.MEDVTAB_API_RATES.get(self.scope)

    def allow_request(self, request: object, view: object) -> bool:
        if getattr(request, "method", "GET") != "POST":
            return True
        return super().allow_request(request, view)
