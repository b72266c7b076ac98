"""Celery tasks. Every task is declared with the one house decorator in ``base``."""

from __future__ import annotations

from leaderboard.tasks import heartbeat  # noqa: F401 - connects the worker signals
from leaderboard.tasks.boards import recompute_boards
from leaderboard.tasks.evaluation import evaluate_checkpoint, evaluate_predictions
from leaderboard.tasks.maintenance import freeze_closed_phases, reap_submissions
from leaderboard.tasks.reference import compute_pixel_reference
from leaderboard.tasks.workers import ping

__all__ = [
    "compute_pixel_reference",
    "evaluate_checkpoint",
    "evaluate_predictions",
    "freeze_closed_phases",
    "ping",
    "reap_submissions",
    "recompute_boards",
]
