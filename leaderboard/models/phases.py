"""Phases of a benchmark: time-boxed windows of a challenge, each with the tracks and protocols it
scores and its own quotas. A benchmark without phases is always open (docs/operations.md)."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from leaderboard.models.benchmark import Benchmark
from leaderboard.models.submission import Protocol, Track

# Quota kinds of leaderboard/services/quotas.py, each overridable by a phase (None: the setting).
QUOTA_FIELDS = ("quota_scored", "quota_in_flight", "quota_attempts")


def _check_choices(value: object, allowed: list[str], what: str) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(f"list at least one {what}: {', '.join(allowed)}")
    unknown = [str(v) for v in value if v not in allowed]
    if unknown:
        raise ValidationError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")
    if len(set(value)) != len(value):
        raise ValidationError(f"a {what} is listed twice")


def validate_tracks(value: object) -> None:
    _check_choices(value, [str(t) for t in Track.values], "track")


def validate_protocols(value: object) -> None:
    _check_choices(value, [str(p) for p in Protocol.values], "protocol")


# Every phase of every benchmark, cached for the board and home pages (a handful of rows): those
# pages cost one query when cached, and a phase's state is worked out from the clock at render.
PHASES_CACHE_KEY = "phases:all"


def forget_cached_phases() -> None:
    cache.delete(PHASES_CACHE_KEY)


def _default_tracks() -> list[str]:
    return [str(t) for t in Track.values]


def _default_protocols() -> list[str]:
    return [str(p) for p in Protocol.values]


def _quota_field(kind: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],  # 0 would shut the phase: close it instead
        help_text=f"{kind} while this phase is open (empty: the setting)",
    )


class Phase(models.Model):
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="phases")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64)
    description = models.TextField(blank=True)
    opens = models.DateTimeField()
    closes = models.DateTimeField()
    tracks = models.JSONField(default=_default_tracks, validators=[validate_tracks])
    protocols = models.JSONField(default=_default_protocols, validators=[validate_protocols])
    checkpoints_required = models.BooleanField(
        default=False,
        help_text="scored from adapter checkpoints only: the predictions track is refused",
    )
    quota_scored = _quota_field("MEDVTAB_QUOTA_SCORED")
    quota_in_flight = _quota_field("MEDVTAB_QUOTA_IN_FLIGHT")
    quota_attempts = _quota_field("MEDVTAB_QUOTA_ATTEMPTS")

    class Meta:
        ordering = ["benchmark", "opens"]
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "slug"], name="phase_unique_per_benchmark"),
            models.CheckConstraint(
                condition=Q(closes__gt=F("opens")), name="phase_closes_after_opens"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.benchmark.slug}/{self.slug}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        forget_cached_phases()

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        forget_cached_phases()
        return deleted

    @property
    def accepted_tracks(self) -> list[str]:
        """The tracks scored in this phase, in the order of ``Track``."""
        listed = set(self.tracks or [])
        if self.checkpoints_required:
            listed &= {Track.CHECKPOINT}
        return [str(t) for t in Track.values if t in listed]

    @property
    def accepted_protocols(self) -> list[str]:
        listed = set(self.protocols or [])
        return [str(p) for p in Protocol.values if p in listed]

    def clean(self) -> None:
        super().clean()
        if self.opens and self.closes and self.closes <= self.opens:
            raise ValidationError({"closes": "a phase must close after it opens"})
        if self.checkpoints_required and Track.CHECKPOINT not in (self.tracks or []):
            raise ValidationError(
                {"tracks": "a phase that requires checkpoints must accept the checkpoint track"}
            )
        self._check_overlap()

    def _check_overlap(self) -> None:
        if not (self.benchmark_id and self.opens and self.closes):
            return
        # Phases of one benchmark never overlap, so at most one is open at any moment.
        clash = (
            Phase.objects.filter(
                benchmark_id=self.benchmark_id, opens__lt=self.closes, closes__gt=self.opens
            )
            .exclude(pk=self.pk)
            .first()
        )
        if clash is not None:
            raise ValidationError(
                f"overlaps phase '{clash.slug}' ({clash.opens:%Y-%m-%d %H:%M} to "
                f"{clash.closes:%Y-%m-%d %H:%M} UTC); phases of a benchmark may not overlap"
            )
