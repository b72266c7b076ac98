"""Which phase of a benchmark is open, and whether it takes a submission.

A benchmark without phases is always open. One with phases takes a submission only while a phase
is open and only on that phase's tracks and protocols; a refusal names the next opening that would
take it. The check runs before the upload is spooled or stored (services/submissions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from leaderboard.models import Benchmark, Phase, Track
from leaderboard.models.phases import PHASES_CACHE_KEY
from leaderboard.services.uploads import UploadRefused


class PhaseClosed(UploadRefused):
    """Refused because no open phase takes this submission; ``next_opens`` is when one will."""

    def __init__(self, message: str, *, field: str, phase: Phase | None, next_phase: Phase | None):
        super().__init__(message, field=field, code="phase_closed")
        self.phase = phase
        self.next_phase = next_phase

    @property
    def next_opens(self) -> datetime | None:
        return self.next_phase.opens if self.next_phase is not None else None

    def retry_after_s(self, now: datetime | None = None) -> int | None:
        if self.next_opens is None:
            return None
        moment = now or timezone.now()
        return max(int((self.next_opens - moment).total_seconds()) + 1, 1)


def when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def phases_of(benchmark: Benchmark) -> QuerySet[Phase]:
    return Phase.objects.filter(benchmark=benchmark).order_by("opens")


def state_of(phase: Phase, now: datetime) -> str:
    if now < phase.opens:
        return "upcoming"
    return "open" if now < phase.closes else "closed"


def phase_states(benchmark: Benchmark, now: datetime | None = None) -> list[tuple[Phase, str]]:
    """The benchmark's phases in opening order, each with its state at ``now``."""
    moment = now or timezone.now()
    return [(p, state_of(p, moment)) for p in phases_of(benchmark)]


def open_phase(benchmark: Benchmark, now: datetime | None = None) -> Phase | None:
    """The phase open at ``now`` (phases never overlap, so at most one), opens ≤ now < closes."""
    moment = now or timezone.now()
    return phases_of(benchmark).filter(opens__lte=moment, closes__gt=moment).first()


def cached_phases() -> list[Phase]:
    """Every phase with its benchmark, from the cache (emptied whenever a phase is saved)."""
    found = cache.get(PHASES_CACHE_KEY)
    if found is None:
        found = list(Phase.objects.select_related("benchmark").order_by("opens"))
        cache.set(PHASES_CACHE_KEY, found, settings.MEDVTAB_BOARD_CACHE_S)
    return list(found)


def open_phases(now: datetime | None = None) -> list[Phase]:
    """Every benchmark's open phase, soonest closing first, for the home page."""
    moment = now or timezone.now()
    found = [p for p in cached_phases() if state_of(p, moment) == "open"]
    return sorted(found, key=lambda p: (p.closes, p.benchmark.slug))


def board_phases(benchmark: Benchmark, now: datetime | None = None) -> list[tuple[Phase, str]]:
    """The benchmark's phases and their states, from the cache (the board page's list)."""
    moment = now or timezone.now()
    return [(p, state_of(p, moment)) for p in cached_phases() if p.benchmark_id == benchmark.pk]


def _takes(phase: Phase, track: str, protocol: str) -> bool:
    return track in phase.accepted_tracks and protocol in phase.accepted_protocols


def next_accepting(
    benchmark: Benchmark, track: str, protocol: str, now: datetime
) -> Phase | None:
    """The first phase opening after ``now`` that takes this track and protocol."""
    later = phases_of(benchmark).filter(opens__gt=now)
    return next((p for p in later if _takes(p, track, protocol)), None)


def _come_back(benchmark: Benchmark, nxt: Phase | None) -> str:
    if nxt is None:
        return f"No later phase of {benchmark.slug} takes it."
    return f"The next phase that takes it, '{nxt.name}', opens at {when(nxt.opens)}."


def _mismatch(phase: Phase, track: str, protocol: str) -> tuple[str, str] | None:
    """(field, reason) when the open phase does not take this track or protocol."""
    if track not in phase.accepted_tracks:
        required = phase.checkpoints_required and track != Track.CHECKPOINT
        need = " (it requires checkpoints)" if required else ""
        listed = ", ".join(phase.accepted_tracks)
        return "track", f"scores the {listed} track only{need}, not {track}"
    if protocol not in phase.accepted_protocols:
        listed = ", ".join(phase.accepted_protocols)
        return "protocol", f"scores the {listed} protocol only, not {protocol}"
    return None


def check_phase(
    benchmark: Benchmark, track: str, protocol: str, *, now: datetime | None = None
) -> Phase | None:
    """The open phase that takes this submission (None for a benchmark without phases).

    Raises :class:`PhaseClosed` when no open phase takes it, naming the next opening that would.
    """
    moment = now or timezone.now()
    all_phases = list(phases_of(benchmark))
    if not all_phases:
        return None
    current = next((p for p in all_phases if state_of(p, moment) == "open"), None)
    nxt = next_accepting(benchmark, track, protocol, moment)
    if current is None:
        raise PhaseClosed(
            f"{benchmark.slug} is not open for submissions now ({when(moment)}): no phase is "
            f"open. {_come_back(benchmark, nxt)}",
            field="benchmark",
            phase=None,
            next_phase=nxt,
        )
    mismatch = _mismatch(current, track, protocol)
    if mismatch is not None:
        field, reason = mismatch
        raise PhaseClosed(
            f"The open phase of {benchmark.slug}, '{current.name}' (until "
            f"{when(current.closes)}), {reason}. {_come_back(benchmark, nxt)}",
            field=field,
            phase=current,
            next_phase=nxt,
        )
    return current


@dataclass(frozen=True)
class QuotaLimits:
    scored: int
    in_flight: int
    attempts: int


def quota_limits(benchmark: Benchmark, now: datetime | None = None) -> QuotaLimits:
    """The quota settings, with the open phase's overrides where it has them."""
    phase = open_phase(benchmark, now)

    def pick(name: str, setting: str) -> int:
        override = getattr(phase, name) if phase is not None else None
        return int(getattr(settings, setting)) if override is None else int(override)

    return QuotaLimits(
        scored=pick("quota_scored", "MEDVTAB_QUOTA_SCORED"),
        in_flight=pick("quota_in_flight", "MEDVTAB_QUOTA_IN_FLIGHT"),
        attempts=pick("quota_attempts", "MEDVTAB_QUOTA_ATTEMPTS"),
    )


def phase_json(phase: Phase, now: datetime | None = None) -> dict[str, Any]:
    """A phase as the API, the catalogue and the pages describe it (docs/api.md)."""
    limits = {kind: getattr(phase, f"quota_{kind}") for kind in ("scored", "in_flight", "attempts")}
    return {
        "slug": phase.slug,
        "name": phase.name,
        "description": phase.description,
        "opens": phase.opens.astimezone(UTC).isoformat(),
        "closes": phase.closes.astimezone(UTC).isoformat(),
        "state": state_of(phase, now or timezone.now()),
        "tracks": phase.accepted_tracks,
        "protocols": phase.accepted_protocols,
        "checkpoints_required": phase.checkpoints_required,
        "quotas": limits,
    }
