"""Board responses (page, modality page, exports, API leaderboard, API tasks) are cached whole,
keyed on the catalogue fingerprint and the board's token: a hit costs one query, a landed result
shows at once, every query parameter that changes the output has its own entry, and nothing
user-specific is ever stored (docs/performance.md, "CPU per request")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leaderboard.models import Benchmark, Task
from leaderboard.services.boards import recompute
from tests.browser.seed import make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")
BOARD = "/b/tiny-bench/"
CACHED = [
    BOARD,
    f"{BOARD}xray/",
    f"{BOARD}export.json",
    f"{BOARD}export.csv",
    "/api/v1/leaderboards/tiny-bench/",
    "/api/v1/leaderboards/tiny-bench/?modality=xray",
]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _add(bench: Benchmark, root: Path, name: str, value: float, **fields: Any) -> Any:
    score = make_score(root, {s: (value, value - 0.1) for s in ALL})
    return scored_submission(make_user(name), bench, score, method_name=name, **fields)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _modality_of(name: str) -> str:
    return Task.objects.get(slug=name).modality.slug


@pytest.mark.parametrize("url", [*CACHED, "/api/v1/tasks/", "/api/v1/tasks/?benchmark=tiny-bench"])
def test_a_cached_response_costs_one_query_and_is_the_same_bytes(
    benchmark: Benchmark, tiny_bundles: Path, url: str
) -> None:
    _add(benchmark, tiny_bundles, "alpha", 0.7)
    recompute(benchmark)
    client = Client()
    first = client.get(url)
    assert _queries(client, url) == 1  # the catalogue fingerprint
    again = client.get(url)
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]


@pytest.mark.parametrize("url", CACHED)
def test_a_recompute_shows_at_once_in_every_cached_response(
    benchmark: Benchmark, tiny_bundles: Path, client: Client, url: str
) -> None:
    _add(benchmark, tiny_bundles, "alpha", 0.7)
    recompute(benchmark)
    assert "alpha" in client.get(url).content.decode()
    assert "bravo" not in client.get(url).content.decode()
    _add(benchmark, tiny_bundles, "bravo", 0.9)
    recompute(benchmark)
    assert "bravo" in client.get(url).content.decode()


def test_a_catalogue_edit_shows_at_once_in_the_api_task_list(
    benchmark: Benchmark, client: Client
) -> None:
    assert "Renamed task" not in client.get("/api/v1/tasks/").content.decode()
    task = Task.objects.get(slug="tiny-cxr")
    task.name = "Renamed task"
    task.save()
    assert "Renamed task" in client.get("/api/v1/tasks/").content.decode()


def test_query_parameters_give_distinct_responses(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    _add(benchmark, tiny_bundles, "alpha", 0.7, method_family="lora")
    _add(benchmark, tiny_bundles, "bravo", 0.8, method_family="adapter")
    recompute(benchmark)
    for base in (BOARD, f"{BOARD}export.json", "/api/v1/leaderboards/tiny-bench/"):
        lora = client.get(f"{base}?family=lora").content.decode()
        adapter = client.get(f"{base}?family=adapter").content.decode()
        assert "alpha" in lora and "bravo" not in lora
        assert "bravo" in adapter and "alpha" not in adapter
        asc = client.get(f"{base}?sort=method&order=asc").content.decode()
        desc = client.get(f"{base}?sort=method&order=desc").content.decode()
        assert asc.index("alpha") < asc.index("bravo")
        assert desc.index("bravo") < desc.index("alpha")
    ood = json.loads(client.get(f"{BOARD}export.json?split=test_ood").content)
    iid = json.loads(client.get(f"{BOARD}export.json").content)
    assert ood["filters"]["split"] == "test_ood" and "split" not in iid["filters"]
    tasks = json.loads(client.get("/api/v1/tasks/?modality=" + _modality_of("tiny-cxr")).content)
    assert [t["slug"] for t in tasks] == ["tiny-cxr"]
    assert len(json.loads(client.get("/api/v1/tasks/").content)) == len(ALL)


def test_the_api_task_list_links_follow_the_host_asked(benchmark: Benchmark, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["a.example", "b.example"]
    first = Client().get("/api/v1/tasks/", HTTP_HOST="a.example").content.decode()
    second = Client().get("/api/v1/tasks/", HTTP_HOST="b.example").content.decode()
    assert "http://a.example/api/v1/tasks/" in first
    assert "http://b.example/api/v1/tasks/" in second and "a.example" not in second


def test_a_private_entry_seen_by_its_owner_never_reaches_an_anonymous_response(
    benchmark: Benchmark, tiny_bundles: Path
) -> None:
    _add(benchmark, tiny_bundles, "alpha", 0.7)
    secret = _add(benchmark, tiny_bundles, "secretive", 0.95, is_public=False)
    recompute(benchmark)
    owner = Client()
    owner.force_login(secret.owner)
    for url in CACHED:
        owner.get(url)  # fills the cache while logged in
    anonymous = Client()
    for url in CACHED:
        body = anonymous.get(url).content.decode()
        assert "alpha" in body and "secretive" not in body, url
    # and the owner's header is rendered per request, never cached with the board
    assert "secretive" in owner.get(BOARD).content.decode()
    assert "secretive" not in anonymous.get(BOARD).content.decode()


def test_an_unknown_board_is_still_a_404(benchmark: Benchmark, client: Client) -> None:
    assert client.get("/b/no-such-bench/").status_code == 404
    assert client.get(f"{BOARD}no-such-modality/").status_code == 404
    assert client.get("/api/v1/leaderboards/no-such-bench/").status_code == 404
