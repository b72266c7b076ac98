"""Migration 0012: every existing submission moves to its owner's team of one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("leaderboard", "0011_method_family_control_characters")]
AFTER = [("leaderboard", "0012_teams")]

pytestmark = pytest.mark.django_db(transaction=True)


def _migrate(target: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()  # the graph the previous migrate call left is stale
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def old_apps() -> Iterator[Any]:
    apps = _migrate(BEFORE)
    yield apps
    _migrate(_latest())  # the rest of the suite runs on the current schema


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _submission(apps: Any, owner: Any, bench: Any, method: str) -> Any:
    Submission = apps.get_model("leaderboard", "Submission")
    return Submission.objects.create(
        owner=owner, benchmark=bench, track="predictions", method_name=method, file="x.zip"
    )


def test_existing_submissions_move_to_their_owners_teams_of_one(old_apps: Any) -> None:
    User = old_apps.get_model("auth", "User")
    Benchmark = old_apps.get_model("leaderboard", "Benchmark")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    shouty = User.objects.create(username="ALICE")  # team names are unique case-insensitively
    User.objects.create(username="carol")  # never submitted: no team is made for her
    first = Benchmark.objects.create(slug="first", name="First")
    second = Benchmark.objects.create(slug="second", name="Second")
    ids = {
        "a1": _submission(old_apps, alice, first, "m").pk,
        "a2": _submission(old_apps, alice, second, "m").pk,
        "b1": _submission(old_apps, bob, first, "m").pk,
        "c1": _submission(old_apps, shouty, first, "m").pk,
    }

    apps = _migrate(AFTER)

    Team = apps.get_model("leaderboard", "Team")
    Submission = apps.get_model("leaderboard", "Submission")
    Participation = apps.get_model("leaderboard", "Participation")
    teams = {t.name: t for t in Team.objects.all()}
    assert sorted(teams) == ["ALICE (2)", "alice", "bob"]
    assert all(t.is_solo for t in teams.values())
    assert teams["alice"].created_by_id == alice.pk
    assert list(teams["alice"].memberships.values_list("user_id", flat=True)) == [alice.pk]
    team_of = dict(Submission.objects.values_list("pk", "team__name"))
    assert team_of == {
        ids["a1"]: "alice",
        ids["a2"]: "alice",
        ids["b1"]: "bob",
        ids["c1"]: "ALICE (2)",
    }
    seats = set(Participation.objects.values_list("user__username", "benchmark__slug", "team__name"))
    assert seats == {
        ("alice", "first", "alice"),
        ("alice", "second", "alice"),
        ("bob", "first", "bob"),
        ("ALICE", "first", "ALICE (2)"),
    }
