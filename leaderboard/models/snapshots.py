"""Frozen board snapshots: a board's rows, ranks, ties and CIs as they stood at one moment, with
the versions they were scored under, kept for citation (docs/architecture.md, "Snapshots").

Snapshots are immutable: once written, a snapshot and its rows refuse to be saved again or
deleted, through the model and through its querysets. Data migrations use historical models,
which carry none of these methods, so an operator's migration is the one way to change them.
Foreign keys to a snapshot's benchmark and phase are ``PROTECT``: deleting either while a
snapshot cites it is refused rather than cascading into the frozen rows.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models

from leaderboard.models.benchmark import Benchmark
from leaderboard.models.phases import Phase
from leaderboard.models.teams import TEAM_NAME_LIMIT


class SnapshotImmutable(Exception):
    """Raised on any attempt to change or delete a frozen snapshot."""


def _refuse(what: str) -> NoReturn:
    raise SnapshotImmutable(f"board snapshots are immutable: {what} refused")


class FrozenQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("update")

    def delete(self) -> NoReturn:
        _refuse("delete")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("bulk_update")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("update_or_create")


class FrozenModel(models.Model):
    """Written once (``save`` of a new row, ``bulk_create``), never changed."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse(f"saving {type(self).__name__} {self.pk} again")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(f"deleting {type(self).__name__} {self.pk}")


# The part of the hidden test splits a row was scored on. Only "full" exists today; a private
# partition adds rows of another part to the same snapshot (docs/architecture.md).
FULL_PART = "full"


class BoardSnapshot(FrozenModel):
    slug = models.SlugField(max_length=160, unique=True)
    title = models.CharField(max_length=200)
    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="snapshots")
    # copies, so a later rename of the benchmark does not change the citation
    benchmark_slug = models.CharField(max_length=64)
    benchmark_name = models.CharField(max_length=200)
    board = models.CharField(
        max_length=80
    )  # the board's slug: overall, a modality's, ~checkpoint-only
    board_name = models.CharField(max_length=200)
    phase = models.ForeignKey(
        Phase, on_delete=models.PROTECT, null=True, blank=True, related_name="snapshots"
    )
    phase_name = models.CharField(max_length=100, blank=True, default="")
    protocol = models.CharField(max_length=8)
    split = models.CharField(max_length=16)
    track = models.CharField(max_length=16, blank=True, default="")  # empty: both tracks
    filters = models.JSONField(default=dict)  # the board's query parameters it was frozen under
    benchmark_version = models.CharField(max_length=64)
    evaluator_version = models.CharField(max_length=32)  # the server's, at the freeze
    evaluator_versions = models.JSONField(default=list)  # those the rows were scored with
    task_versions = models.JSONField(default=dict)  # {task slug: version}
    tasks = models.JSONField(default=list)  # the board's task columns, in order
    columns = models.JSONField(default=list)  # the export columns of every row's ``values``
    board_generation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=150, blank=True, default="")  # a name, never a key

    objects = FrozenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # closing a phase freezes each of its boards once, however often the task runs
            models.UniqueConstraint(
                fields=["phase", "board", "protocol"],
                condition=models.Q(phase__isnull=False),
                name="snapshot_once_per_phase_board",
            )
        ]

    def __str__(self) -> str:
        return self.slug


class SnapshotRow(FrozenModel):
    """One row of a frozen board, in its order: the typed columns the page and API read, and
    ``values``, every export column of the row (``BoardSnapshot.columns``)."""

    snapshot = models.ForeignKey(BoardSnapshot, on_delete=models.PROTECT, related_name="rows")
    part = models.CharField(max_length=16, default=FULL_PART)
    position = models.PositiveIntegerField()
    submission_id = models.BigIntegerField()  # a number, not a key: the submission may go
    rank = models.PositiveIntegerField(null=True)
    tied_with_leader = models.BooleanField(default=False)
    method_name = models.CharField(max_length=100)
    participant = models.CharField(max_length=150)  # the submitting user
    team = models.CharField(max_length=TEAM_NAME_LIMIT)  # the name the row is shown under
    complete = models.BooleanField(default=False)
    is_reference = models.BooleanField(default=False)
    test_id = models.FloatField(null=True)
    test_ood = models.FloatField(null=True)
    values = models.JSONField(default=dict)

    objects = FrozenQuerySet.as_manager()

    class Meta:
        ordering = ["snapshot", "part", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "part", "position"], name="snapshot_row_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.snapshot_id}#{self.position} {self.method_name}"
