"""Precomputed leaderboard rows and per-benchmark board state.

A worker recomputes them when results land (``leaderboard.services.boards.recompute``); pages only
read them, so a page's queries do not grow with the number of submissions.
"""

from __future__ import annotations

import uuid
from typing import Literal

from django.conf import settings
from django.db import models

from leaderboard.models.benchmark import Benchmark, Modality, Task
from leaderboard.models.submission import Submission
from leaderboard.models.teams import TEAM_NAME_LIMIT, Team

Split = Literal["test_id", "test_ood"]
SPLITS: tuple[Split, ...] = ("test_id", "test_ood")


class BoardScope(models.TextChoices):
    """Which tasks a board averages: the tasks open to both tracks (overall, or one modality's),
    or the tasks that accept checkpoints only (their test images are hidden)."""

    OVERALL = "overall"
    MODALITY = "modality"
    CHECKPOINT_ONLY = "checkpoint-only"


# The checkpoint-only board's slug in URLs, exports and the stored history: '~' is not allowed in
# a modality slug, so it can never name a modality's board.
CHECKPOINT_ONLY_SLUG = "~checkpoint-only"


def board_slug(scope: str, modality_slug: str | None) -> str:
    if scope == BoardScope.CHECKPOINT_ONLY:
        return CHECKPOINT_ONLY_SLUG
    return modality_slug or "overall"


def task_scope(task: Task) -> str:
    """The board that ranks a task, whose rows carry its per-task ranks."""
    return BoardScope.OVERALL if task.accepts_predictions else BoardScope.CHECKPOINT_ONLY


def new_cache_token() -> str:
    return uuid.uuid4().hex


class BoardState(models.Model):
    """One per benchmark: the token that keys the page cache, and what is cheaper to store once
    than to query per page (filter choices, the best score over time)."""

    benchmark = models.OneToOneField(Benchmark, on_delete=models.CASCADE, related_name="board")
    generation = models.PositiveIntegerField(default=0)
    # Random per recompute, never a counter: a counter comes back after a rolled-back recompute
    # (and a primary key after a rolled-back insert), and a page cached under it would be served
    # for rows it was not rendered from. Empty until the first recompute: nothing is cached.
    cache_token = models.CharField(max_length=32, blank=True, default="")
    source_started_at = models.FloatField(default=0.0)  # when the data of the stored rows was read
    computed_at = models.DateTimeField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"boards of {self.benchmark_id} (generation {self.generation})"


class BoardEntry(models.Model):
    """One public, succeeded submission on one board: ``scope`` overall or checkpoint-only (with a
    null ``modality``), or a modality's."""

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16, choices=BoardScope.choices, default=BoardScope.OVERALL)
    modality = models.ForeignKey(Modality, on_delete=models.CASCADE, null=True, related_name="+")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    owner_name = models.CharField(max_length=150)
    # the team the row counts for: rows collapse per team and method, and show its name
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, related_name="+")
    team_name = models.CharField(max_length=TEAM_NAME_LIMIT, blank=True, default="")
    method_name = models.CharField(max_length=100)
    method_family = models.CharField(max_length=50, blank=True)
    protocol = models.CharField(max_length=8)
    track = models.CharField(max_length=16)
    pretraining = models.CharField(max_length=16)
    is_baseline = models.BooleanField(default=False)
    tunable_params = models.BigIntegerField(null=True)
    params_verified = models.BooleanField(default=False)
    finished_at = models.DateTimeField(null=True)

    complete = models.BooleanField(default=False)
    test_id = models.FloatField(null=True)
    test_id_lo = models.FloatField(null=True)
    test_id_hi = models.FloatField(null=True)
    test_ood = models.FloatField(null=True)
    test_ood_lo = models.FloatField(null=True)
    test_ood_hi = models.FloatField(null=True)
    ood_gap = models.FloatField(null=True)
    # The mean over every task the entry entered, on the overall board's rows whose entry entered
    # a task that board does not average (a checkpoint-only one); null otherwise.
    all_tasks_test_id = models.FloatField(null=True)
    all_tasks_test_ood = models.FloatField(null=True)
    # {task: {split: {metric: [value, lo, hi]}, "rank": {split: r}, "tied": {split: bool}}}.
    # The overall rows hold every task entered (the task pages rank from them), the others the
    # tasks of their board.
    cells = models.JSONField(default=dict)

    # Ranks within (board, protocol): among each participant's best row per method, and among all.
    best_test_id = models.BooleanField(default=False)
    best_test_ood = models.BooleanField(default=False)
    rank_test_id = models.PositiveIntegerField(null=True)
    rank_test_ood = models.PositiveIntegerField(null=True)
    rank_all_test_id = models.PositiveIntegerField(null=True)
    rank_all_test_ood = models.PositiveIntegerField(null=True)
    tied_test_id = models.BooleanField(default=False)  # statistically tied with the leader
    tied_test_ood = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # The default page: one board, protocol and view, best first. (An expression index
            # with NULLS LAST would match the ORDER BY exactly but SQLite cannot build one.)
            models.Index(
                fields=[
                    "benchmark",
                    "scope",
                    "modality",
                    "protocol",
                    "complete",
                    "best_test_id",
                    "-test_id",
                ],
                name="board_id_idx",
            ),
            models.Index(
                fields=[
                    "benchmark",
                    "scope",
                    "modality",
                    "protocol",
                    "complete",
                    "best_test_ood",
                    "-test_ood",
                ],
                name="board_ood_idx",
            ),
            models.Index(fields=["method_family"], name="board_family_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "modality"],
                condition=models.Q(modality__isnull=False),
                name="board_entry_unique_modality",
            ),
            models.UniqueConstraint(
                fields=["submission", "scope"],
                condition=models.Q(modality__isnull=True),
                name="board_entry_unique_scope",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method_name} on {self.modality_id or self.scope}"

    def board_slug(self) -> str:
        return board_slug(self.scope, self.modality.slug if self.modality_id else None)

    # Typed access to the per-split columns, so no caller spells a column name.
    @staticmethod
    def rank_field(split: Split, *, all_rows: bool) -> str:
        """The rank column: among every row (``all_rows``) or each method's best rows only."""
        return f"rank_all_{split}" if all_rows else f"rank_{split}"

    @staticmethod
    def best_field(split: Split) -> str:
        return f"best_{split}"

    def score(self, split: Split) -> float | None:
        return self.test_id if split == "test_id" else self.test_ood

    def rank(self, split: Split, *, all_rows: bool) -> int | None:
        value: int | None = getattr(self, self.rank_field(split, all_rows=all_rows))
        return value

    def set_rank(self, split: Split, rank: int | None, *, all_rows: bool) -> None:
        setattr(self, self.rank_field(split, all_rows=all_rows), rank)

    def is_best(self, split: Split) -> bool:
        return self.best_test_id if split == "test_id" else self.best_test_ood

    def mark_best(self, split: Split) -> None:
        setattr(self, self.best_field(split), True)

    def tied(self, split: Split) -> bool:
        """Statistically tied with the leader (the leader itself included)."""
        return self.tied_test_id if split == "test_id" else self.tied_test_ood

    def set_tied(self, split: Split, tied: bool) -> None:
        setattr(self, f"tied_{split}", tied)

    def tied_with_leader(self, split: Split, *, all_rows: bool) -> bool:
        """What a row shows: tied, and ranked in the view (unranked rows are tied with nobody)."""
        return self.tied(split) and self.rank(split, all_rows=all_rows) is not None
