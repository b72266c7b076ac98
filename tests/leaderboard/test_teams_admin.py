"""Team admin: staff rename a team and merge teams in two steps; revoke invitations."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from leaderboard.models import Invitation, Membership, Team
from leaderboard.services import teams
from tests.leaderboard.conftest import make_user
from tests.leaderboard.test_admin import admin_client_

pytestmark = pytest.mark.django_db
__all__ = ["admin_client_"]  # the fixture is used by being imported


def _change(team: Team, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "is_solo": "",
        "created_by": str(team.created_by_id),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "participations-TOTAL_FORMS": "0",
        "participations-INITIAL_FORMS": "0",
    }


def test_rename_refuses_a_taken_name_and_keeps_the_slug(
    admin_client_: Client, alice: Any, bob: Any
) -> None:
    lab = teams.create_team(alice, "Lab A")
    teams.create_team(bob, "Lab B")
    url = f"/admin/leaderboard/team/{lab.pk}/change/"
    page = admin_client_.get(url)
    assert page.status_code == 200 and "Lab A" in page.content.decode()
    taken = admin_client_.post(url, _change(lab, "LAB B"))
    assert taken.status_code == 200 and "already exists" in taken.content.decode()
    assert Team.objects.get(pk=lab.pk).name == "Lab A"
    assert admin_client_.post(url, _change(lab, "Lab Z")).status_code == 302
    lab.refresh_from_db()
    assert (lab.name, lab.slug) == ("Lab Z", "lab-a")  # the slug, in links, stays


def test_merge_asks_which_team_stays_then_moves_everything(
    admin_client_: Client, alice: Any, bob: Any
) -> None:
    lab = teams.create_team(alice, "Lab A")
    other = teams.create_team(bob, "Lab B")
    make_user("carol")
    teams.invite(other, bob, "carol")
    chosen = {"action": "merge_selected", "_selected_action": [lab.pk, other.pk]}
    ask = admin_client_.post("/admin/leaderboard/team/", chosen)
    assert ask.status_code == 200 and 'name="survivor"' in ask.content.decode()
    done = admin_client_.post("/admin/leaderboard/team/", {**chosen, "survivor": lab.pk})
    assert done.status_code == 302
    assert list(Team.objects.values_list("name", flat=True)) == ["Lab A"]
    assert sorted(Membership.objects.values_list("user__username", flat=True)) == ["alice", "bob"]
    assert Invitation.objects.get().team == lab


def test_revoke_invitations_action(admin_client_: Client, alice: Any, bob: Any) -> None:
    lab = teams.create_team(alice, "Lab A")
    invitation = teams.invite(lab, alice, "bob")
    response = admin_client_.post(
        "/admin/leaderboard/invitation/",
        {"action": "revoke_selected", "_selected_action": [invitation.pk]},
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
