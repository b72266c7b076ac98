"""Request throttles. Rates come from settings at request time (``MEDVTAB_API_RATES``), so they
can be changed per deployment and per test; the counters live in Django's cache."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class AnonThrottle(AnonRateThrottle):
    scope = "anon"

    def get_rate(self) -> str | None:
        return settings.MEDVTAB_API_RATES.get(self.scope)


class UserThrottle(UserRateThrottle):
    scope = "user"

    def get_rate(self) -> str | None:
        return settings.MEDVTAB_API_RATES.get(self.scope)


class UploadThrottle(UserRateThrottle):
    """Uploads are heavy: a separate, lower rate (quotas are enforced apart, per benchmark)."""

    scope = "upload"

    def get_rate(self) -> str | None:
        return settings.MEDVTAB_API_RATES.get(self.scope)

    def allow_request(self, request: object, view: object) -> bool:
        if getattr(request, "method", "GET") != "POST":
            return True
        return super().allow_request(request, view)
