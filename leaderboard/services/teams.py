"""Teams: creating them, invitations, leaving, and which team a submission counts for; staff rename
and merge. The rules are in docs/architecture.md ("Teams"); the database holds the one that
matters most (one team per user and benchmark, ``Participation``)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from leaderboard.models import (
    Benchmark,
    BoardEntry,
    Invitation,
    InvitationStatus,
    Membership,
    Participation,
    Submission,
    Team,
)
from leaderboard.models.teams import TEAM_NAME_LIMIT, free_slug, solo_team
from leaderboard.models.validators import SINGLE_LINE_PATTERN
from leaderboard.services.uploads import UploadRefused


class TeamError(ValueError):
    """A refused team action. ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def _not_allowed(message: str) -> TeamError:
    return TeamError(message, status=403, code="permission_denied")


def is_member(team: Team, user: Any) -> bool:
    return Membership.objects.filter(team=team, user=user).exists()


def user_teams(user: Any) -> list[Team]:
    """The user's teams, real teams first."""
    return list(Team.objects.filter(memberships__user=user).order_by("is_solo", "name"))


def clean_name(name: str, *, user: Any = None, team: Team | None = None) -> str:
    """A team name that is free: not another team's (case-insensitively), not another user's
    username (their team of one is named after them)."""
    name = (name or "").strip()
    if not re.match(SINGLE_LINE_PATTERN, name):
        raise TeamError("name: may not contain control characters")
    if not name:
        raise TeamError("name: a team needs a name")
    if len(name) > TEAM_NAME_LIMIT:
        raise TeamError(f"name: at most {TEAM_NAME_LIMIT} characters")
    taken = Team.objects.filter(name__iexact=name)
    if team is not None:
        taken = taken.exclude(pk=team.pk)
    if taken.exists():
        raise TeamError(f"name: a team called '{name}' already exists", status=409, code="taken")
    others = get_user_model().objects.filter(username__iexact=name)
    if user is not None:
        others = others.exclude(pk=user.pk)
    if team is not None and team.created_by_id:
        others = others.exclude(pk=team.created_by_id)
    if others.exists():
        raise TeamError(f"name: '{name}' is a user's name", status=409, code="taken")
    return name


def create_team(user: Any, name: str) -> Team:
    """A new team with its creator as the first member."""
    with transaction.atomic():
        name = clean_name(name, user=user)
        try:
            with transaction.atomic():
                team = Team.objects.create(name=name, slug=free_slug(name), created_by=user)
        except IntegrityError:  # a parallel create took the name (or slug) first
            raise TeamError(
                f"name: a team called '{name}' already exists", status=409, code="taken"
            ) from None
        Membership.objects.create(team=team, user=user)
    return team


def invite(team: Team, by: Any, username: str) -> Invitation:
    if not is_member(team, by):
        raise _not_allowed("only a member of the team may invite")
    if team.is_solo:
        raise TeamError("a team of one takes no members: create a team and invite to it")
    invitee = get_user_model().objects.filter(username=(username or "").strip()).first()
    if invitee is None:
        raise TeamError(f"username: no user called '{username}'", status=404, code="not_found")
    if is_member(team, invitee):
        raise TeamError(f"username: {invitee.get_username()} is already a member", status=409)
    try:
        with transaction.atomic():
            return Invitation.objects.create(team=team, invitee=invitee, invited_by=by)
    except IntegrityError:  # the partial unique constraint: one pending invitation per person
        raise TeamError(
            f"username: {invitee.get_username()} already has a pending invitation", status=409
        ) from None


def _respond(invitation: Invitation, status: str) -> Invitation:
    """Move a pending invitation on; refuse one that was answered or revoked meanwhile."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.status != InvitationStatus.PENDING:
            raise TeamError(f"this invitation is {locked.status} already", status=409)
        locked.status = status
        locked.responded_at = timezone.now()
        locked.save(update_fields=["status", "responded_at"])
        if status == InvitationStatus.ACCEPTED:
            Membership.objects.get_or_create(team=locked.team, user=locked.invitee)
    return locked


def accept(invitation: Invitation, user: Any) -> Invitation:
    if invitation.invitee_id != user.pk:
        raise _not_allowed("only the invited user may accept")
    return _respond(invitation, InvitationStatus.ACCEPTED)


def decline(invitation: Invitation, user: Any) -> Invitation:
    if invitation.invitee_id != user.pk:
        raise _not_allowed("only the invited user may decline")
    return _respond(invitation, InvitationStatus.DECLINED)


def revoke(invitation: Invitation, by: Any) -> Invitation:
    if not (getattr(by, "is_staff", False) or is_member(invitation.team, by)):
        raise _not_allowed("only a member of the team may revoke its invitations")
    return _respond(invitation, InvitationStatus.REVOKED)


def leave(team: Team, user: Any) -> None:
    """The member goes; their past submissions stay with the team (and count for it)."""
    if team.is_solo:
        raise TeamError("a team of one cannot be left")
    deleted, _ = Membership.objects.filter(team=team, user=user).delete()
    if not deleted:
        raise TeamError("you are not a member of this team", status=409)


def _require_staff(user: Any) -> None:
    if not getattr(user, "is_staff", False):
        raise _not_allowed("only staff may rename or merge teams")


def _recompute_on_commit(benchmark_ids: set[int]) -> None:
    from leaderboard.tasks.boards import request_recompute  # tasks call services: lazily

    for pk in sorted(benchmark_ids):
        transaction.on_commit(lambda pk=pk: request_recompute(pk))


def rename(team: Team, name: str, by: Any) -> Team:
    _require_staff(by)
    with transaction.atomic():
        team.name = clean_name(name, team=team)
        team.save(update_fields=["name"])
        BoardEntry.objects.filter(team=team).update(team_name=team.name)  # shown at once
        _recompute_on_commit(set(_benchmarks_of(team)))
    return team


def _benchmarks_of(team: Team) -> list[int]:
    return list(Submission.objects.filter(team=team).values_list("benchmark_id", flat=True))


def merge(loser: Team, survivor: Team, by: Any) -> Team:
    """Submissions, participations and memberships of ``loser`` move to ``survivor``; pending
    invitations move unless the invitee already has one there; ``loser`` is deleted and the
    boards of every benchmark either team entered are recomputed."""
    _require_staff(by)
    if loser.pk == survivor.pk:
        raise TeamError("a team cannot be merged into itself")
    with transaction.atomic():
        benchmarks = set(_benchmarks_of(loser)) | set(_benchmarks_of(survivor))
        Submission.objects.filter(team=loser).update(team=survivor)
        # one participation per (user, benchmark): moving them can never collide
        Participation.objects.filter(team=loser).update(team=survivor)
        kept = Membership.objects.filter(team=survivor).values("user_id")
        Membership.objects.filter(team=loser).exclude(user_id__in=kept).update(team=survivor)
        invited = Invitation.objects.filter(team=survivor, status=InvitationStatus.PENDING)
        Invitation.objects.filter(team=loser, status=InvitationStatus.PENDING).exclude(
            invitee_id__in=invited.values("invitee_id")
        ).update(team=survivor)
        BoardEntry.objects.filter(team=loser).update(team=survivor, team_name=survivor.name)
        loser.delete()  # its remaining memberships and invitations go with it
        if survivor.is_solo and Membership.objects.filter(team=survivor).count() > 1:
            survivor.is_solo = False  # no longer one person's
            survivor.save(update_fields=["is_solo"])
        _recompute_on_commit(benchmarks)
    return survivor


# Which team a submission counts for ------------------------------------------------------------


class TeamRefused(UploadRefused):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="team", code="team_refused")


def choose_team(user: Any, benchmark: Benchmark, slug: str | None = None) -> Team | None:
    """The team a submission by ``user`` on ``benchmark`` counts for, read before anything is
    stored: the team they already submit for there, else the one named (which they must be in),
    else their only team. None: their team of one, made when the submission is recorded."""
    slug = (slug or "").strip() or None
    seat = Participation.objects.filter(user=user, benchmark=benchmark).select_related("team")
    if (found := seat.first()) is not None:
        return _seated(found.team, user, benchmark, slug)
    if slug is not None:
        team = Team.objects.filter(slug=slug).first()
        if team is None or not is_member(team, user):
            raise TeamRefused(f"team: you are not a member of a team '{slug}'")
        return team
    teams = [t for t in user_teams(user) if not t.is_solo]
    if len(teams) > 1:
        names = ", ".join(t.slug for t in teams)
        raise TeamRefused(
            f"team: you are in several teams ({names}); name the one this submission is for"
        )
    return teams[0] if teams else None


def _seated(team: Team, user: Any, benchmark: Benchmark, slug: str | None) -> Team:
    if slug is not None and slug != team.slug:
        raise TeamRefused(
            f"team: your submissions to {benchmark.slug} count for team '{team.slug}'; a user "
            "submits for one team per benchmark"
        )
    if not is_member(team, user):
        raise TeamRefused(
            f"team: your submissions to {benchmark.slug} count for team '{team.slug}', which you "
            "left; a user submits for one team per benchmark"
        )
    return team


def enter(user: Any, benchmark: Benchmark, team: Team | None) -> Team:
    """Inside the transaction that records the submission: make the team of one if needed and
    write the participation. Refuses when a parallel submission recorded another team first."""
    team = team if team is not None else solo_team(user)
    if not is_member(team, user):
        raise TeamRefused(f"team: you are no longer a member of team '{team.slug}'")
    seat, _ = Participation.objects.get_or_create(
        user=user, benchmark=benchmark, defaults={"team": team}
    )
    if seat.team_id != team.pk:
        raise TeamRefused(
            f"team: your submissions to {benchmark.slug} count for another team; a user submits "
            "for one team per benchmark"
        )
    return team
