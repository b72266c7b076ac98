"""The teams API: create, read, invite, accept, decline, revoke, leave; uploads name their team."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from leaderboard.models import Invitation, Submission
from tests.api.conftest import token_client
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db


def _create(client: APIClient, name: str = "Lab A") -> Any:
    return client.post("/api/v1/teams/", {"name": name}, format="json")


def _invite(client: APIClient, username: str, team: str = "lab-a") -> Any:
    return client.post(f"/api/v1/teams/{team}/invitations/", {"username": username}, format="json")


def test_create_read_and_list_teams(alice: Any, api: APIClient) -> None:
    client = token_client(alice)
    created = _create(client)
    assert created.status_code == 201, created.content
    assert created.json() | {"created": ""} == {
        "slug": "lab-a",
        "name": "Lab A",
        "is_solo": False,
        "created": "",
        "members": ["alice"],
    }
    assert api.get("/api/v1/teams/lab-a/").json()["members"] == ["alice"]  # anonymous reads
    assert [t["slug"] for t in api.get("/api/v1/teams/").json()["results"]] == ["lab-a"]
    taken = _create(client, "LAB A")
    assert (taken.status_code, taken.json()["code"], taken.json()["field"]) == (409, "taken", "name")
    assert _create(client, "bad\x07name").status_code == 400
    assert _create(api).status_code == 401
    assert api.get("/api/v1/teams/nobody/").json()["code"] == "not_found"


def test_invitation_accepted_then_member_leaves(alice: Any, bob: Any) -> None:
    owner, guest = token_client(alice), token_client(bob)
    _create(owner)
    sent = _invite(owner, "bob")
    assert sent.status_code == 201 and sent.json()["status"] == "pending"
    received = guest.get("/api/v1/teams/invitations/").json()["results"]
    assert [(i["team"], i["invited_by"]) for i in received] == [("lab-a", "alice")]
    pk = received[0]["id"]
    accepted = guest.post(f"/api/v1/teams/invitations/{pk}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert guest.get("/api/v1/teams/lab-a/").json()["members"] == ["alice", "bob"]
    again = guest.post(f"/api/v1/teams/invitations/{pk}/decline")
    assert (again.status_code, again.json()["detail"]) == (409, "this invitation is accepted already")
    assert guest.post("/api/v1/teams/lab-a/leave").status_code == 204
    assert guest.get("/api/v1/teams/lab-a/").json()["members"] == ["alice"]
    assert guest.post("/api/v1/teams/lab-a/leave").status_code == 409


def test_declined_and_revoked_invitations(alice: Any, bob: Any) -> None:
    owner, guest = token_client(alice), token_client(bob)
    carol = token_client(make_user("carol"))
    _create(owner)
    first = _invite(owner, "bob").json()["id"]
    assert guest.post(f"/api/v1/teams/invitations/{first}/decline").json()["status"] == "declined"
    second = _invite(owner, "bob").json()["id"]
    # someone neither invited nor in the team does not see the invitation
    assert carol.post(f"/api/v1/teams/invitations/{second}/revoke").status_code == 404
    assert guest.post(f"/api/v1/teams/invitations/{second}/revoke").status_code == 403
    assert owner.post(f"/api/v1/teams/invitations/{second}/revoke").json()["status"] == "revoked"
    assert guest.post(f"/api/v1/teams/invitations/{second}/accept").status_code == 409
    listed = owner.get("/api/v1/teams/lab-a/invitations/").json()["results"]
    assert [i["status"] for i in listed] == ["revoked", "declined"]
    assert guest.get("/api/v1/teams/lab-a/invitations/").status_code == 403
    assert set(Invitation.objects.values_list("status", flat=True)) == {"declined", "revoked"}


def test_bad_invitations(alice: Any, bob: Any) -> None:
    owner = token_client(alice)
    _create(owner)
    missing = _invite(owner, "nobody")
    assert (missing.status_code, missing.json()["field"]) == (404, "username")
    assert _invite(token_client(bob), "bob").status_code == 403  # not a member
    assert token_client(bob).post("/api/v1/teams/invitations/999/accept").status_code == 404
    assert token_client(bob).post("/api/v1/teams/invitations/x/accept").status_code == 404


def test_an_upload_names_its_team_or_is_refused(
    alice: Any, bob: Any, benchmark: Any, submit_file: Callable[..., dict[str, Any]]
) -> None:
    owner = token_client(alice)
    _create(owner)
    _create(owner, "Lab B")
    several = owner.post("/api/v1/submissions/", submit_file())
    assert several.status_code == 409, several.content
    assert (several.json()["code"], several.json()["field"]) == ("team_refused", "team")
    assert "several teams (lab-a, lab-b)" in several.json()["detail"]
    made = owner.post("/api/v1/submissions/", submit_file(team="lab-b"))
    assert made.status_code == 201, made.content
    assert Submission.objects.get(pk=made.json()["id"]).team.slug == "lab-b"
    refused = token_client(bob).post("/api/v1/submissions/", submit_file(team="lab-b"))
    assert refused.status_code == 409
    assert "not a member of a team 'lab-b'" in refused.json()["detail"]
    assert Submission.objects.count() == 1


def test_role_names_that_become_one_stay_two_roles(
    alice: Any, benchmark: Any, submit_file: Callable[..., dict[str, Any]]
) -> None:
    """The schema cannot forbid control characters in role names (keys), so they are removed;
    two names that become one (found by the schema fuzzer once uploads took a team) are both
    kept, the later numbered."""
    body = submit_file(backbones='{"a": "vit-b16", "a\\u0007": "vit-s16", "": "x", "\\u0019": "y"}')
    made = token_client(alice).post("/api/v1/submissions/", body)
    assert made.status_code == 201, made.content
    roles = Submission.objects.get(pk=made.json()["id"]).backbones
    assert roles == {"a": "vit-b16", "a (2)": "vit-s16", "": "x", " (2)": "y"}
