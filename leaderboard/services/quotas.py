"""Submission quotas: rolling 24 hours, per team and benchmark (staff, baselines and exempt
accounts excepted): the members of a team share one quota, so a group cannot multiply it.
Failures count as attempts, so failing cannot be used to probe hidden labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from leaderboard.models import IN_FLIGHT, Benchmark, Profile, Status, Submission, Team
from leaderboard.services.phases import quota_limits

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class QuotaDecision:
    allowed: bool
    message: str = ""
    retry_at: datetime | None = None

    @property
    def retry_after_s(self) -> int | None:
        if self.retry_at is None:
            return None
        return max(int((self.retry_at - timezone.now()).total_seconds()) + 1, 1)


def is_exempt(user: AbstractBaseUser, *, baseline: bool = False) -> bool:
    if baseline or getattr(user, "is_staff", False):
        return True
    profile = Profile.objects.filter(user=user).only("quota_exempt").first()
    return bool(profile and profile.quota_exempt)


def _recent(
    user: AbstractBaseUser, team: Team | None, benchmark: Benchmark, now: datetime
) -> list[tuple[datetime, str]]:
    """(created, status) of the last 24 hours' submissions that count: every member's."""
    counted = Q(team=team) if team is not None else Q(owner=user)
    rows = Submission.objects.filter(counted, benchmark=benchmark, created__gte=now - WINDOW)
    return list(rows.order_by("created").values_list("created", "status"))


def _who(team: Team | None) -> str:
    return f"Your team {team.name} has" if team is not None and not team.is_solo else "You have"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def check_quota(
    user: AbstractBaseUser,
    benchmark: Benchmark,
    *,
    baseline: bool = False,
    team: Team | None = None,
) -> QuotaDecision:
    """Whether ``user`` may submit to ``benchmark`` now, counting the submissions of ``team``
    (every member's; the user's own when no team is given)."""
    if is_exempt(user, baseline=baseline):
        return QuotaDecision(True)
    now = timezone.now()
    limits = quota_limits(benchmark, now)  # an open phase may override the settings
    recent = _recent(user, team, benchmark, now)
    who = _who(team)
    attempts = [c for c, _ in recent]
    if len(attempts) >= limits.attempts:
        retry = attempts[len(attempts) - limits.attempts] + WINDOW
        return QuotaDecision(
            False,
            f"{who} made {len(attempts)} submission attempts to {benchmark.slug} in the last "
            f"24 hours (limit {limits.attempts}, failures included). "
            f"You may submit again at {_when(retry)}.",
            retry,
        )
    in_flight = [c for c, s in recent if s in IN_FLIGHT]
    if len(in_flight) >= limits.in_flight:
        retry = now + timedelta(minutes=1)
        return QuotaDecision(
            False,
            f"{who} {len(in_flight)} submissions waiting or running on "
            f"{benchmark.slug} (limit {limits.in_flight}). You may submit again "
            "as soon as one of them finishes.",
            retry,
        )
    counted = [c for c, s in recent if s in IN_FLIGHT or s == Status.SUCCEEDED]
    if len(counted) >= limits.scored:
        retry = counted[len(counted) - limits.scored] + WINDOW
        return QuotaDecision(
            False,
            f"{who} {len(counted)} scored or in-flight submissions to {benchmark.slug} in the "
            f"last 24 hours (limit {limits.scored}). "
            f"You may submit again at {_when(retry)}.",
            retry,
        )
    return QuotaDecision(True)
