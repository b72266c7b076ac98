"""Submissions, their stored results and provenance. The database is the source of truth; the
broker only carries submission primary keys."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from leaderboard.models.benchmark import Benchmark, Modality, Task
from leaderboard.models.teams import Team, default_team
from leaderboard.models.validators import (
    MAX_TUNABLE_PARAMS,
    HttpUrlValidator,
    validate_backbones,
    validate_method_family,
)

DESCRIPTION_LIMIT = 5000
USER_LOG_LIMIT = 20_000  # characters kept of the user log (oldest lines dropped first)
STAFF_LOG_LIMIT = 200_000


class Status(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


IN_FLIGHT = (Status.PENDING, Status.QUEUED, Status.RUNNING)
FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class Track(models.TextChoices):
    PREDICTIONS = "predictions"
    CHECKPOINT = "checkpoint"


class Protocol(models.TextChoices):
    FULL = "full"
    ONE_K = "1k"


class Pretraining(models.TextChoices):
    GENERAL = "general"
    MEDICAL = "medical"
    BOTH = "both"
    UNKNOWN = "unknown"


def upload_path(instance: Submission, filename: str) -> str:
    # Never trust the client's file name on disk: a random name keeps the storage root flat and safe.
    suffix = ".zip" if filename.lower().endswith(".zip") else ".bin"
    return f"submissions/{uuid.uuid4().hex}{suffix}"


class Submission(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions"
    )
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="submissions")
    # Who the submission counts for (quotas, board rows); set on insert, kept when the owner
    # leaves the team. Null only for rows bulk-inserted past save(); boards group those by owner.
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="submissions"
    )
    track = models.CharField(max_length=16, choices=Track.choices)
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.FULL)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )

    file = models.FileField(upload_to=upload_path, max_length=255)
    original_filename = models.CharField(max_length=255, blank=True)
    file_size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)

    method_name = models.CharField(max_length=100)
    method_family = models.CharField(
        max_length=50, blank=True, validators=[validate_method_family]
    )
    backbones = models.JSONField(default=dict, blank=True, validators=[validate_backbones])
    pretraining = models.CharField(
        max_length=16, choices=Pretraining.choices, default=Pretraining.UNKNOWN
    )
    reported_tunable_params = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_TUNABLE_PARAMS)],
    )
    verified_tunable_params = models.BigIntegerField(null=True, blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    description = models.TextField(
        blank=True,
        max_length=DESCRIPTION_LIMIT,  # forms and the API read it; the validator is the model's
        validators=[MaxLengthValidator(DESCRIPTION_LIMIT)],
    )
    paper_url = models.URLField(blank=True, validators=[HttpUrlValidator()])
    code_url = models.URLField(blank=True, validators=[HttpUrlValidator()])
    is_public = models.BooleanField(default=True)
    is_baseline = models.BooleanField(default=False)
    # A fixed reference computed by the server (pixel logistic regression), shown on every board
    # for scale but never ranked, never a leader and never collapsed with an owner's entries.
    is_reference = models.BooleanField(default=False)

    error = models.TextField(blank=True)
    user_log = models.TextField(blank=True)
    staff_log = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    # Which process of that worker holds the claim: its incarnation (see WorkerHeartbeat) and the
    # pool process's pid, so a claim outlives neither a restart nor a killed pool process.
    worker_incarnation = models.CharField(max_length=32, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Provenance of the stored results.
    evaluator_version = models.CharField(max_length=32, blank=True)
    task_versions = models.JSONField(default=dict, blank=True)
    bootstrap_seed = models.IntegerField(null=True, blank=True)
    bootstrap_replicates = models.IntegerField(null=True, blank=True)
    score_json = models.JSONField(null=True, blank=True)
    complete = models.BooleanField(default=False)
    device = models.CharField(max_length=64, blank=True)
    images_per_second = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["owner", "benchmark", "created"]),
            models.Index(fields=["benchmark", "status", "is_public"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"], name="submission_idempotency_key_per_owner"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.method_name} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Paths other than the create service (reference rows, the admin, scripts) name no team:
        # the owner's team on the benchmark, so every inserted row counts for a team.
        if self._state.adding and self.team_id is None and self.owner_id and self.benchmark_id:
            self.team = default_team(self.owner, self.benchmark)
        super().save(*args, **kwargs)

    @property
    def queue(self) -> str:
        return "gpu" if self.track == Track.CHECKPOINT else "cpu"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @staticmethod
    def log_stamp() -> str:
        """The time at the start of a log line (text only: stored times use the database's clock)."""
        return f"{timezone.now():%Y-%m-%d %H:%M:%S}"

    def append_log(self, message: str, *, staff: bool = False) -> None:
        """Append a line to the user log (bounded) or the staff log."""
        field, limit = ("staff_log", STAFF_LOG_LIMIT) if staff else ("user_log", USER_LOG_LIMIT)
        text = (getattr(self, field) + message.rstrip("\n") + "\n")[-limit:]
        setattr(self, field, text)


class Result(models.Model):
    """One metric of one task on one hidden split, with its bootstrap 95% CI."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="results")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="results")
    split = models.CharField(max_length=16)
    metric = models.CharField(max_length=32)
    value = models.FloatField(null=True)
    ci_low = models.FloatField(null=True)
    ci_high = models.FloatField(null=True)
    reason = models.TextField(blank=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "task", "split", "metric"], name="result_unique"
            )
        ]
        indexes = [models.Index(fields=["task", "split", "metric"])]


class Aggregate(models.Model):
    """A stored modality or overall aggregate (mean of the tasks' primary metric) with CIs."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="aggregates")
    modality = models.ForeignKey(Modality, on_delete=models.CASCADE, null=True, blank=True)
    scope = models.CharField(max_length=16)  # "overall" or "modality"
    test_id = models.FloatField(null=True)
    test_id_ci_low = models.FloatField(null=True)
    test_id_ci_high = models.FloatField(null=True)
    test_ood = models.FloatField(null=True)
    test_ood_ci_low = models.FloatField(null=True)
    test_ood_ci_high = models.FloatField(null=True)
    ood_gap = models.FloatField(null=True)
    complete = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "scope", "modality"], name="aggregate_unique"
            )
        ]


class ReplicateVector(models.Model):
    """The primary metric's bootstrap replicates for one task and split (float64 bytes, NaN for
    dropped replicates) so aggregates get CIs and rankings can be paired."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="replicates")
    task = models.ForeignKey(Task, on_delete=models.CASCADE)
    split = models.CharField(max_length=16)
    values = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["submission", "task", "split"], name="replicate_unique")
        ]

