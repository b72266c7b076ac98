"""Precomputed leaderboard rows and per-benchmark board state.

A worker recomputes them when results land (``leaderboard.services.boards.recompute``); pages only
read them, so a page's queries do not grow with the number of submissions.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from leaderboard.models.benchmark import Benchmark, Modality
from leaderboard.models.submission import Submission


class BoardState(models.Model):
    """One per benchmark: the generation number that keys the page cache, and what is cheaper to
    store once than to query per page (filter choices, the best score over time)."""

    benchmark = models.OneToOneField(Benchmark, on_delete=models.CASCADE, related_name="board")
    generation = models.PositiveIntegerField(default=0)
    source_started_at = models.FloatField(default=0.0)  # when the data of the stored rows was read
    computed_at = models.DateTimeField(null=True, blank=True)
    facets = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"boards of {self.benchmark_id} (generation {self.generation})"


class BoardEntry(models.Model):
    """One public, succeeded submission on one board (overall when ``modality`` is null)."""

    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="+")
    modality = models.ForeignKey(Modality, on_delete=models.CASCADE, null=True, related_name="+")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    owner_name = models.CharField(max_length=150)
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
    # {task: {split: {metric: [value, lo, hi]}, "rank": {split: r}, "tied": {split: bool}}}
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
                fields=["submission"],
                condition=models.Q(modality__isnull=True),
                name="board_entry_unique_overall",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method_name} on {self.modality_id or 'overall'}"
