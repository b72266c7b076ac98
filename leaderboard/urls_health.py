"""Health endpoints, mounted at the site root: ``/healthz`` (liveness) and ``/readyz`` (readiness)."""

from __future__ import annotations

from django.urls import path

from leaderboard.views import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
