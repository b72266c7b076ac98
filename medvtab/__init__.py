"""Django project for the Med-VTAB leaderboard."""

from __future__ import annotations

from medvtab.celery import app as celery_app

__all__ = ["celery_app"]
