"""Team pages: list, create, invite by username, accept, decline, revoke, leave; the upload form
names its team."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from leaderboard.models import Invitation, InvitationStatus, Membership, Team
from leaderboard.services import teams
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db


def _as(user: Any, **kw: Any) -> Client:
    client = Client(**kw)
    client.force_login(user)
    return client


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_create_invite_accept_and_leave(alice: Any, bob: Any) -> None:
    owner, guest = _as(alice), _as(bob)
    created = owner.post("/teams/new/", {"name": "Lab A"}, follow=True)
    assert created.redirect_chain[-1][0] == "/teams/lab-a/"
    assert "Team Lab A created" in created.content.decode()
    invited = owner.post("/teams/lab-a/invite", {"username": "bob"}, follow=True)
    assert "bob is invited." in _messages(invited)
    listing = guest.get("/teams/").content.decode()
    pk = Invitation.objects.get().pk
    assert f'data-invitation="{pk}"' in listing and "from alice" in listing
    accepted = guest.post(f"/teams/invitations/{pk}/accept", follow=True)
    assert "Invitation to Lab A accepted." in _messages(accepted)
    page = Client().get("/teams/lab-a/").content.decode()  # anyone may read it
    assert 'data-member="alice"' in page and 'data-member="bob"' in page
    left = guest.post("/teams/lab-a/leave", follow=True)
    assert "You left Lab A; its submissions stay with it." in _messages(left)
    assert list(Membership.objects.values_list("user__username", flat=True)) == ["alice"]


def test_decline_and_revoke(alice: Any, bob: Any) -> None:
    owner, guest = _as(alice), _as(bob)
    team = teams.create_team(alice, "Lab A")
    first = teams.invite(team, alice, "bob")
    guest.post(f"/teams/invitations/{first.pk}/decline")
    second = teams.invite(team, alice, "bob")
    assert f'data-invitation="{second.pk}"' in owner.get("/teams/lab-a/").content.decode()
    owner.post(f"/teams/invitations/{second.pk}/revoke")
    late = guest.post(f"/teams/invitations/{second.pk}/accept", follow=True)
    assert "this invitation is revoked already" in _messages(late)
    statuses = dict(Invitation.objects.values_list("pk", "status"))
    assert statuses == {first.pk: InvitationStatus.DECLINED, second.pk: InvitationStatus.REVOKED}
    # an outsider neither sees nor answers the invitation
    outsider = _as(make_user("carol"))
    assert outsider.post(f"/teams/invitations/{second.pk}/accept").status_code == 404
    assert outsider.post(f"/teams/invitations/{second.pk}/other").status_code == 404


def test_refusals_are_messages_and_change_nothing(alice: Any, bob: Any) -> None:
    teams.create_team(bob, "Lab B")
    owner = _as(alice)
    taken = owner.post("/teams/new/", {"name": "lab b"}, follow=True)
    assert "name: a team called 'lab b' already exists" in _messages(taken)
    assert owner.post("/teams/new/", {"name": ""}, follow=True).status_code == 200
    foreign = owner.post("/teams/lab-b/invite", {"username": "alice"}, follow=True)
    assert "only a member of the team may invite" in _messages(foreign)
    assert Team.objects.count() == 1 and not Invitation.objects.exists()


def test_writes_need_a_login_and_the_csrf_token(alice: Any) -> None:
    assert Client().post("/teams/new/", {"name": "Lab A"}).status_code == 302  # to the login
    strict = _as(alice, enforce_csrf_checks=True)
    assert strict.post("/teams/new/", {"name": "Lab A"}).status_code == 403
    assert Client().get("/teams/new/").status_code == 405
    assert not Team.objects.exists()


def test_unverified_accounts_cannot_create_teams(db: None) -> None:
    unverified = _as(make_user("dave", verified=False))
    unverified.post("/teams/new/", {"name": "Lab D"})
    assert not Team.objects.exists()


def test_the_nav_links_to_teams(alice: Any) -> None:
    assert 'href="/teams/"' in _as(alice).get("/").content.decode()
