"""Teams: invitations, leaving, staff rename and merge, and which team a submission counts for."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from leaderboard.models import (
    Benchmark,
    Invitation,
    InvitationStatus,
    Membership,
    Participation,
    Submission,
    Team,
)
from leaderboard.services import teams
from leaderboard.services.teams import TeamError, TeamRefused
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db


def _members(team: Team) -> list[str]:
    return sorted(team.memberships.values_list("user__username", flat=True))


@pytest.fixture
def lab(alice: Any, bob: Any) -> Team:
    """alice's team, which bob has joined."""
    team = teams.create_team(alice, "Lab A")
    teams.accept(teams.invite(team, alice, "bob"), bob)
    return team


def test_creating_a_team_makes_its_creator_a_member(alice: Any) -> None:
    team = teams.create_team(alice, "  Lab A ")
    assert (team.name, team.slug, team.is_solo) == ("Lab A", "lab-a", False)
    assert _members(team) == ["alice"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "needs a name"),
        ("lab a", "already exists"),  # case-insensitively
        ("bob", "a user's name"),  # bob's team of one will carry it
        ("x" * 101, "at most 100"),
        ("bad\x00name", "control characters"),
    ],
)
def test_bad_team_names_are_refused(alice: Any, bob: Any, name: str, message: str) -> None:
    teams.create_team(alice, "Lab A")
    with pytest.raises(TeamError, match=message) as info:
        teams.create_team(alice, name)
    assert info.value.message.startswith("name: ")
    assert Team.objects.count() == 1


def test_an_accepted_invitation_makes_a_member(lab: Team) -> None:
    assert _members(lab) == ["alice", "bob"]
    invitation = Invitation.objects.get(team=lab)
    assert invitation.status == InvitationStatus.ACCEPTED
    assert invitation.responded_at is not None


def test_a_declined_invitation_makes_no_member(alice: Any, bob: Any) -> None:
    team = teams.create_team(alice, "Lab A")
    invitation = teams.decline(teams.invite(team, alice, "bob"), bob)
    assert invitation.status == InvitationStatus.DECLINED
    assert _members(team) == ["alice"]
    with pytest.raises(TeamError, match="declined already"):
        teams.accept(invitation, bob)
    # declined is not pending: bob may be invited again
    assert teams.invite(team, alice, "bob").status == InvitationStatus.PENDING


def test_a_revoked_invitation_cannot_be_accepted(alice: Any, bob: Any) -> None:
    team = teams.create_team(alice, "Lab A")
    invitation = teams.invite(team, alice, "bob")
    teams.revoke(invitation, alice)
    with pytest.raises(TeamError, match="revoked already") as info:
        teams.accept(invitation, bob)
    assert info.value.status == 409
    assert _members(team) == ["alice"]


def test_only_the_invitee_answers_and_only_members_invite_or_revoke(
    alice: Any, bob: Any
) -> None:
    carol = make_user("carol")
    team = teams.create_team(alice, "Lab A")
    invitation = teams.invite(team, alice, "bob")
    for action in (teams.accept, teams.decline, teams.revoke):
        with pytest.raises(TeamError) as info:
            action(invitation, carol)
        assert info.value.status == 403
    with pytest.raises(TeamError, match="only a member"):
        teams.invite(team, carol, "carol")
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_invitations_that_make_no_sense_are_refused(alice: Any, bob: Any) -> None:
    team = teams.create_team(alice, "Lab A")
    teams.invite(team, alice, "bob")
    with pytest.raises(TeamError, match="already has a pending invitation"):
        teams.invite(team, alice, "bob")
    with pytest.raises(TeamError, match="no user called 'nobody'") as info:
        teams.invite(team, alice, "nobody")
    assert info.value.status == 404
    with pytest.raises(TeamError, match="already a member"):
        teams.invite(team, alice, "alice")
    solo = teams.enter(alice, Benchmark.objects.create(slug="b2", name="B2"), None)
    with pytest.raises(TeamError, match="team of one takes no members"):
        teams.invite(solo, alice, "bob")


def test_a_member_who_leaves_takes_nothing(lab: Team, bob: Any, benchmark: Benchmark) -> None:
    team = teams.choose_team(bob, benchmark)
    assert team == lab
    teams.enter(bob, benchmark, team)
    sub = Submission.objects.create(
        owner=bob, benchmark=benchmark, track="predictions", method_name="m", file="x.zip"
    )
    assert sub.team == lab
    teams.leave(lab, bob)
    sub.refresh_from_db()
    assert sub.team == lab  # the submission stays with (and counts for) the team
    assert _members(lab) == ["alice"]
    # one team per benchmark: having left, bob cannot submit there for anyone else either
    with pytest.raises(TeamRefused, match="which you left"):
        teams.choose_team(bob, benchmark)
    with pytest.raises(TeamError, match="not a member"):
        teams.leave(lab, bob)


def test_the_team_a_submission_counts_for(alice: Any, bob: Any, benchmark: Benchmark) -> None:
    assert teams.choose_team(alice, benchmark) is None  # no team yet: a team of one
    solo = teams.enter(alice, benchmark, None)
    assert (solo.name, solo.is_solo, _members(solo)) == ("alice", True, ["alice"])
    assert teams.choose_team(alice, benchmark) == solo
    # a team she joins later does not change the benchmark she already submits to
    lab = teams.create_team(alice, "Lab A")
    with pytest.raises(TeamRefused, match="count for team 'alice'"):
        teams.choose_team(alice, benchmark, "lab-a")
    other = Benchmark.objects.create(slug="other", name="Other")
    assert teams.choose_team(alice, other) == lab  # her only real team
    teams.create_team(alice, "Lab B")
    with pytest.raises(TeamRefused, match=r"several teams \(lab-a, lab-b\)"):
        teams.choose_team(alice, other)
    assert teams.choose_team(alice, other, "lab-b") == Team.objects.get(slug="lab-b")
    with pytest.raises(TeamRefused, match="not a member of a team 'lab-a'"):
        teams.choose_team(bob, other, "lab-a")


def test_the_database_holds_one_team_per_user_and_benchmark(
    lab: Team, alice: Any, benchmark: Benchmark
) -> None:
    teams.enter(alice, benchmark, lab)
    other = teams.create_team(alice, "Lab B")
    with pytest.raises(TeamRefused, match="another team"):
        teams.enter(alice, benchmark, other)
    with pytest.raises(IntegrityError), transaction.atomic():
        Participation.objects.create(user=alice, benchmark=benchmark, team=other)


def test_staff_rename_teams(lab: Team, alice: Any, staff_user: Any) -> None:
    with pytest.raises(TeamError) as info:
        teams.rename(lab, "Lab Z", alice)
    assert info.value.status == 403
    assert teams.rename(lab, "Lab Z", staff_user).name == "Lab Z"
    assert Team.objects.get(pk=lab.pk).name == "Lab Z"


def test_staff_merge_teams(lab: Team, alice: Any, bob: Any, staff_user: Any) -> None:
    carol, dave = make_user("carol"), make_user("dave")
    rival = teams.create_team(carol, "Lab C")
    teams.accept(teams.invite(rival, carol, "alice"), alice)  # a member of both
    teams.invite(rival, carol, "dave")
    bench = Benchmark.objects.create(slug="b2", name="B2")
    teams.enter(carol, bench, rival)
    sub = Submission.objects.create(
        owner=carol, benchmark=bench, track="predictions", method_name="m", file="x.zip"
    )
    with pytest.raises(TeamError, match="only staff"):
        teams.merge(rival, lab, alice)
    teams.merge(rival, lab, staff_user)
    assert not Team.objects.filter(pk=rival.pk).exists()
    assert _members(lab) == ["alice", "bob", "carol"]
    sub.refresh_from_db()
    assert sub.team == lab
    assert Participation.objects.get(user=carol, benchmark=bench).team == lab
    assert Invitation.objects.get(invitee=dave).team == lab
    assert Membership.objects.filter(user=alice).count() == 1
