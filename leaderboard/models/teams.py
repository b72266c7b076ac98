"""Teams: who a submission counts for. Quotas, in-flight limits and board rows are per team.

A user without a team is a team of one (``Team.is_solo``), made on first submission. The rule that
a user submits for at most one team per benchmark lives in the database: a ``Participation`` row
(user, benchmark, team) is written with the user's first submission on a benchmark, and the pair
(user, benchmark) is unique, so no second team can be recorded for it, whatever path inserts it.
Submissions carry the team they were made for; a member who leaves takes none of them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.text import slugify

from leaderboard.models.benchmark import Benchmark

TEAM_NAME_LIMIT = 100
# Paths next to /teams/<slug>/ on the site and in the API: no team may take them as its slug.
RESERVED_SLUGS = frozenset({"invitations", "new"})


class Team(models.Model):
    name = models.CharField(max_length=TEAM_NAME_LIMIT)
    slug = models.SlugField(max_length=TEAM_NAME_LIMIT + 8, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # A team of one, made for a user who submits without a team; named after the user.
    is_solo = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            # case-insensitive: "Lab A" and "lab a" would be the same row to a reader
            models.UniqueConstraint(Lower("name"), name="team_name_unique_ci"),
            models.UniqueConstraint(
                fields=["created_by"],
                condition=models.Q(is_solo=True),
                name="team_one_solo_per_user",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["joined", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Participation(models.Model):
    """The team a user submits for on a benchmark; one per (user, benchmark), kept when the user
    leaves the team (their past submissions stay with it, and they cannot switch teams there)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="participations")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "benchmark"], name="participation_one_team_per_benchmark"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} for {self.team} on {self.benchmark_id}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"


class Invitation(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    created = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "invitee"],
                condition=models.Q(status="pending"),
                name="invitation_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invitee} to {self.team} ({self.status})"


def free_slug(name: str, model: Any = Team) -> str:
    """A slug for ``name`` that no team has yet (``-2``, ``-3`` … appended when taken)."""
    base = (slugify(name) or "team")[:TEAM_NAME_LIMIT]
    slug, n = base, 1
    while slug in RESERVED_SLUGS or model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def free_name(name: str, model: Any = Team) -> str:
    """``name``, or ``name (2)`` … when a team already has it (case-insensitively)."""
    candidate, n = name[:TEAM_NAME_LIMIT], 1
    while model.objects.filter(name__iexact=candidate).exists():
        n += 1
        suffix = f" ({n})"
        candidate = name[: TEAM_NAME_LIMIT - len(suffix)] + suffix
    return candidate


def solo_team(user: Any) -> Team:
    """The user's team of one, made (with its membership) on first use."""
    team = Team.objects.filter(created_by=user, is_solo=True).first()
    if team is not None:
        return team
    name = free_name(user.get_username())
    team = Team.objects.create(name=name, slug=free_slug(name), created_by=user, is_solo=True)
    Membership.objects.create(team=team, user=user)
    return team


def default_team(user: Any, benchmark: Benchmark) -> Team:
    """The team the user submits for on the benchmark when none is named: the one they already
    submit for there, else their only real team, else their team of one. Writes the
    participation. Callers that let the user name a team use ``leaderboard.services.teams``."""
    found = Participation.objects.filter(user=user, benchmark=benchmark).select_related("team")
    if (existing := found.first()) is not None:
        return existing.team
    teams = Team.objects.filter(memberships__user=user, is_solo=False)
    team = teams.first() if teams.count() == 1 else solo_team(user)
    # a parallel first submission may have written it meanwhile: the stored row wins
    row, _ = Participation.objects.get_or_create(
        user=user, benchmark=benchmark, defaults={"team": team}
    )
    return row.team
