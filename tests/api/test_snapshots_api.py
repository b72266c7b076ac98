"""The snapshot endpoints: anonymous reads of the list and of one snapshot (by id or slug), the
same rows and citation as the JSON export, clear 404s, and their place in the OpenAPI schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leaderboard.services.snapshots import SnapshotRequest, freeze
from tests.api.conftest import make_submission, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(benchmark: Any, alice: Any, bob: Any, tiny_bundles: Path) -> Any:
    make_submission(alice, benchmark, tiny_bundles, seed=1)
    make_submission(bob, benchmark, tiny_bundles, seed=2)
    return freeze(SnapshotRequest("tiny-bench", title="Frozen for the paper"))


def test_anonymous_callers_list_and_read_snapshots(snapshot: Any, api: Any) -> None:
    listed = api.get("/api/v1/snapshots/")
    assert listed.status_code == 200
    [item] = listed.json()
    assert item["id"] == snapshot.pk and item["title"] == "Frozen for the paper"
    assert item["url"] == f"/snapshots/{snapshot.slug}/" and item["num_rows"] == 2
    assert item["exports"]["json"] == f"/snapshots/{snapshot.slug}/export.json"
    by_id = api.get(f"/api/v1/snapshots/{snapshot.pk}/").json()
    by_slug = api.get(f"/api/v1/snapshots/{snapshot.slug}/").json()
    assert by_id == by_slug
    exported = api.get(f"/snapshots/{snapshot.slug}/export.json").json()
    assert by_id == exported  # one shape: the JSON export is the API's answer
    assert [r["rank"] for r in by_id["rows"]] == [1, 2]
    assert by_id["snapshot"]["benchmark_version"] == snapshot.benchmark_version


def test_a_token_reads_the_same(snapshot: Any, alice: Any, api: Any) -> None:
    anonymous = api.get(f"/api/v1/snapshots/{snapshot.pk}/").json()
    assert token_client(alice, "read").get(f"/api/v1/snapshots/{snapshot.pk}/").json() == anonymous


def test_unknown_snapshots_and_benchmarks_are_json_404s(snapshot: Any, api: Any) -> None:
    for url in ("/api/v1/snapshots/999999/", "/api/v1/snapshots/no-such/"):
        missing = api.get(url)
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert api.get("/api/v1/snapshots/?benchmark=tiny-bench").json()[0]["id"] == snapshot.pk
    other = api.get("/api/v1/snapshots/?benchmark=no-such")
    assert other.status_code == 404 and "no-such" in other.json()["detail"]
    bad = api.get("/api/v1/snapshots/?benchmark=not a slug")
    assert bad.status_code == 400 and bad.json()["field"] == "benchmark"


def test_the_schema_declares_both_endpoints_readable_anonymously(api: Any) -> None:
    schema = api.get("/api/schema/?format=json").json()
    for path in ("/api/v1/snapshots/", "/api/v1/snapshots/{slug}/"):
        operation = schema["paths"][path]["get"]
        assert {} in operation["security"]
    detail = schema["components"]["schemas"]["SnapshotDetail"]["properties"]
    assert {"snapshot", "citation", "columns", "rows"} <= set(detail)
    meta = schema["components"]["schemas"]["Snapshot"]["properties"]
    assert {"benchmark_version", "evaluator_versions", "task_versions", "url"} <= set(meta)
