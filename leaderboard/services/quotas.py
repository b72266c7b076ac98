"""Submission quotas: rolling 24 hours, per user and benchmark (staff, baselines and exempt
accounts excepted). Failures count as attempts, so failing cannot be used to probe hidden labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from leaderboard.models import IN_FLIGHT, Benchmark, Profile, Status, Submission

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


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def check_quota(
    user: AbstractBaseUser, benchmark: Benchmark, *, baseline: bool = False
) -> QuotaDecision:
    if is_exempt(user, baseline=baseline):
        return QuotaDecision(True)
    now = timezone.now()
    recent = list(
        Submission.objects.filter(owner=user, benchmark=benchmark, created__gte=now - WINDOW)
        .order_by("created")
        .values_list("created", "status")
    )
    attempts = [c for c, _ in recent]
    if len(attempts) >= settings.MEDVTAB_QUOTA_ATTEMPTS:
        retry = attempts[len(attempts) - settings.MEDVTAB_QUOTA_ATTEMPTS] + WINDOW
        return QuotaDecision(
            False,
            f"You have made {len(attempts)} submission attempts to {benchmark.slug} in the last "
            f"24 hours (limit {settings.MEDVTAB_QUOTA_ATTEMPTS}, failures included). "
            f"You may submit again at {_when(retry)}.",
            retry,
        )
    in_flight = [c for c, s in recent if s in IN_FLIGHT]
    if len(in_flight) >= settings.MEDVTAB_QUOTA_IN_FLIGHT:
        retry = now + timedelta(minutes=1)
        return QuotaDecision(
            False,
            f"You already have {len(in_flight)} submissions waiting or running on "
            f"{benchmark.slug} (limit {settings.MEDVTAB_QUOTA_IN_FLIGHT}). You may submit again "
            "as soon as one of them finishes.",
            retry,
        )
    counted = [c for c, s in recent if s in IN_FLIGHT or s == Status.SUCCEEDED]
    if len(counted) >= settings.MEDVTAB_QUOTA_SCORED:
        retry = counted[len(counted) - settings.MEDVTAB_QUOTA_SCORED] + WINDOW
        return QuotaDecision(
            False,
            f"You have {len(counted)} scored or in-flight submissions to {benchmark.slug} in the "
            f"last 24 hours (limit {settings.MEDVTAB_QUOTA_SCORED}). "
            f"You may submit again at {_when(retry)}.",
            retry,
        )
    return QuotaDecision(True)
