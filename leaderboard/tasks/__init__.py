"""Celery tasks. Every task is declared with the one house decorator in ``base``."""

from __future__ import annotations

from leaderboard.tasks.workers import ping

__all__ = ["ping"]
