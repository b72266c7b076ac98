"""Board rows per team: members' entries of one method are one row, under the team's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from leaderboard.models import Benchmark, BoardEntry, Team
from leaderboard.services import teams
from leaderboard.services.boards import recompute
from tests.leaderboard.conftest import make_user
from tests.leaderboard.test_boards import _add, _rows, _same

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def lab(alice: Any, bob: Any) -> Team:
    team = teams.create_team(alice, "Lab A")
    teams.accept(teams.invite(team, alice, "bob"), bob)
    return team


def _api_rows(client: Client) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get("/api/v1/leaderboards/tiny-bench/").json()["results"]
    return rows


def test_members_entries_of_one_method_are_one_row(
    benchmark: Benchmark, tiny_bundles: Path, client: Client, lab: Team, alice: Any, bob: Any
) -> None:
    _add(alice, benchmark, tiny_bundles, _same(0.6), "same", team=lab)
    best = _add(bob, benchmark, tiny_bundles, _same(0.7), "same", team=lab, seed=1)
    carol = make_user("carol")
    alone = _add(carol, benchmark, tiny_bundles, _same(0.65), "same", seed=2)
    recompute(benchmark)
    assert [r["sub"] for r in _rows(client, "/b/tiny-bench/")] == [str(best.pk), str(alone.pk)]
    assert len(_rows(client, "/b/tiny-bench/?all=1")) == 3
    html = client.get("/b/tiny-bench/").content.decode()
    assert "Lab A" in html
    api = [(r["submission_id"], r["team"], r["owner"]) for r in _api_rows(client)]
    assert api == [(best.pk, "Lab A", "bob"), (alone.pk, "carol", "carol")]
    for page in ("/", "/tasks/tiny-cxr/", reverse("method", args=["lora"])):
        assert "Lab A" in client.get(page).content.decode(), page


def test_merge_and_rename_show_on_the_boards(
    benchmark: Benchmark,
    tiny_bundles: Path,
    client: Client,
    lab: Team,
    alice: Any,
    staff_user: Any,
) -> None:
    carol = make_user("carol")
    _add(alice, benchmark, tiny_bundles, _same(0.6), "same", team=lab)
    theirs = _add(carol, benchmark, tiny_bundles, _same(0.7), "same", seed=1)
    recompute(benchmark)
    assert len(_rows(client, "/b/tiny-bench/")) == 2
    teams.merge(theirs.team, lab, staff_user)
    recompute(benchmark)  # what the merge enqueues on commit
    assert [r["sub"] for r in _rows(client, "/b/tiny-bench/")] == [str(theirs.pk)]
    teams.rename(lab, "Lab Z", staff_user)
    assert set(BoardEntry.objects.values_list("team_name", flat=True)) == {"Lab Z"}
    assert [r["team"] for r in _api_rows(client)] == ["Lab Z"]
