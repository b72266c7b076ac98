"""Quotas count per team: two members share one; the submission records the team it counts for."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from leaderboard.models import Participation, Submission, Team
from leaderboard.services import teams
from leaderboard.services.quotas import QuotaDecision
from leaderboard.services.submissions import QuotaExceeded
from leaderboard.services.teams import TeamRefused
from tests.leaderboard.conftest import make_user
from tests.leaderboard.test_submissions import eager, submit  # eager: autouse, scored at once
from tests.leaderboard.test_text_validators import _post

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["eager"]  # the fixture is used by being imported


def test_two_members_share_one_quota(
    alice: Any, bob: Any, benchmark: Any, predictions: Any, settings: Any
) -> None:
    settings.MEDVTAB_QUOTA_ATTEMPTS = 2
    lab = teams.create_team(alice, "Lab A")
    teams.accept(teams.invite(lab, alice, "bob"), bob)
    submit(alice, benchmark, predictions())
    submit(bob, benchmark, predictions())
    with pytest.raises(QuotaExceeded, match="Your team Lab A has made 2 submission attempts"):
        submit(bob, benchmark, predictions())
    with pytest.raises(QuotaExceeded):
        submit(alice, benchmark, predictions())
    assert list(Submission.objects.values_list("team__name", flat=True)) == ["Lab A"] * 2
    # someone outside the team still has a quota of their own
    carol = make_user("carol")
    assert submit(carol, benchmark, predictions()).team.name == "carol"


def test_first_submission_makes_a_team_of_one(alice: Any, benchmark: Any, predictions: Any) -> None:
    sub = submit(alice, benchmark, predictions())
    team = Team.objects.get(memberships__user=alice)
    assert (sub.team, team.name, team.is_solo) == (team, "alice", True)
    assert Participation.objects.get(user=alice, benchmark=benchmark).team == team
    assert submit(alice, benchmark, predictions()).team == team  # the same one, not a second


def test_a_refused_team_keeps_nothing(
    alice: Any, bob: Any, benchmark: Any, predictions: Any, settings: Any
) -> None:
    teams.create_team(bob, "Lab B")
    with pytest.raises(TeamRefused, match="not a member of a team 'lab-b'") as info:
        submit(alice, benchmark, predictions(), team="lab-b")
    assert info.value.field == "team"
    assert not Submission.objects.exists()
    assert not Participation.objects.exists()
    assert not list((Path(settings.MEDIA_ROOT) / "submissions").glob("*"))


def test_a_quota_refusal_records_no_participation(
    alice: Any, benchmark: Any, predictions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused on its first submission, a user is still free to choose a team there."""
    refuse = QuotaDecision(False, "refused for the test")
    monkeypatch.setattr("leaderboard.services.submissions.check_quota", lambda *a, **k: refuse)
    with pytest.raises(QuotaExceeded, match="refused for the test"):
        submit(alice, benchmark, predictions())
    assert not Participation.objects.exists()
    assert not Team.objects.exists()


def test_the_upload_form_names_its_team(
    alice: Any, bob: Any, benchmark: Any, tiny_bundles: Path, client: Client
) -> None:
    teams.create_team(bob, "Lab B")
    mine = teams.create_team(alice, "Lab A")
    client.force_login(alice)
    refused = _post(client, benchmark, tiny_bundles, team="lab-b")
    assert refused.status_code == 400
    assert "not a member of a team &#x27;lab-b&#x27;" in refused.content.decode()
    assert not Submission.objects.exists()
    made = _post(client, benchmark, tiny_bundles, team="lab-a")
    assert made.status_code == 302
    assert Submission.objects.get().team == mine


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's; SQLite has none"
)
def test_two_members_uploading_at_once_cannot_both_pass_one_quota(
    alice: Any,
    bob: Any,
    benchmark: Any,
    predictions: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both uploads are inside their transactions, past their own user's lock, when they reach
    the team's: without that lock both would count zero attempts and both be recorded."""
    import leaderboard.services.submissions as service

    settings.MEDVTAB_QUOTA_ATTEMPTS = 1
    lab = teams.create_team(alice, "Lab A")
    teams.accept(teams.invite(lab, alice, "bob"), bob)
    together = threading.Barrier(2, timeout=20)
    original = service.enter

    def enter_then_wait(*args: Any) -> Team:
        team = original(*args)
        together.wait()
        return team

    monkeypatch.setattr(service, "enter", enter_then_wait)
    monkeypatch.setattr(service, "enqueue", lambda pk: False)  # no scoring: only the quota
    outcomes: list[str] = []
    uploads = {alice: predictions(), bob: predictions()}

    def upload(user: Any) -> None:
        try:
            submit(user, benchmark, uploads[user])
            outcomes.append("recorded")
        except QuotaExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(u,)) for u in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["recorded", "refused"]
    assert Submission.objects.filter(team=lab).count() == 1
