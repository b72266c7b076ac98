"""Leaderboards, charts, task downloads and method pages (filled in by the boards module)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
