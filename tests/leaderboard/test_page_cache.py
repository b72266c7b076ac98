"""The cached parts of the home page, the task pages and the navigation: served from the cache
when nothing changed, never stale after a new result, a recompute or a catalogue edit, and never
carrying one visitor's header, session or CSRF token to another."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leaderboard.models import Benchmark, Submission, Task
from leaderboard.services.boards import recompute
from tests.browser.seed import make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()


def _scored(bench: Benchmark, root: Path, owner: Any, name: str, value: float) -> Submission:
    score = make_score(root, {s: (value, value - 0.05) for s in ALL}, seed=len(name))
    return scored_submission(owner, bench, score, method_name=name)


def _section(html: str, marker: str, end: str = "</ol>") -> str:
    return html.split(marker, 1)[1].split(end, 1)[0]


def _queries(client: Client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(url).content.decode()
    return len(ctx.captured_queries), html


def test_home_is_served_from_the_cache_until_a_result_lands(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    alice = make_user("alice")
    _scored(benchmark, tiny_bundles, alice, "first-method", 0.7)
    recompute(benchmark)
    cold, first = _queries(client, "/")
    warm, again = _queries(client, "/")
    assert warm < cold and warm <= 3  # catalogue version, status counts, heartbeats
    assert again == first

    _scored(benchmark, tiny_bundles, alice, "second-method", 0.9)
    html = client.get("/").content.decode()  # before the recompute: the latest results move
    assert "second-method" in _section(html, 'id="recent"')
    assert "second-method" not in _section(html, 'class="leaders"')
    recompute(benchmark)
    html = client.get("/").content.decode()
    assert _section(html, 'class="leaders"').index("second-method") < _section(
        html, 'class="leaders"'
    ).index("first-method")


def test_home_status_panel_is_live_while_the_rest_is_cached(
    benchmark: Benchmark, client: Client
) -> None:
    assert "In flight: 0 predictions" in client.get("/").content.decode()
    Submission.objects.create(
        owner=make_user("bob"), benchmark=benchmark, track="predictions", method_name="q"
    )
    assert "In flight: 1 predictions" in client.get("/").content.decode()


def test_private_results_and_other_visitors_headers_are_never_shared(
    benchmark: Benchmark, tiny_bundles: Path
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    hidden = _scored(benchmark, tiny_bundles, alice, "alice-private", 0.8)
    hidden.is_public = False
    hidden.save()
    recompute(benchmark)
    as_alice = Client()
    as_alice.force_login(alice)
    html_alice = as_alice.get("/").content.decode()  # fills the cache while logged in
    assert 'class="who" href="/accounts/' in html_alice and ">alice<" in html_alice
    as_bob = Client()
    as_bob.force_login(bob)
    for html in (Client().get("/").content.decode(), as_bob.get("/").content.decode()):
        assert ">alice<" not in html and "alice-private" not in html
    anonymous = Client().get("/").content.decode()
    assert "csrfmiddlewaretoken" not in anonymous and "Log in" in anonymous
    bob_page = as_bob.get("/").content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', bob_page)
    assert tokens and tokens[0] not in html_alice  # a fresh token per request, never cached


def test_catalogue_edits_show_in_the_navigation_and_pages(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    client.get("/")
    client.get("/tasks/tiny-derm/")
    task = Task.objects.get(slug="tiny-derm")
    task.name = "Renamed dermatology task"
    task.save()
    modality = task.modality
    modality.name = "Dermatoscopy"
    modality.save()
    Benchmark.objects.create(slug="second-bench", name="Second bench")
    home = client.get("/").content.decode()
    nav = _section(home, 'aria-label="Leaderboards"', "</nav>")
    assert "/b/second-bench/" in nav and "Dermatoscopy" in nav
    assert "Renamed dermatology task" in home
    assert "Renamed dermatology task" in client.get("/tasks/tiny-derm/").content.decode()


def test_task_page_follows_new_results_and_its_split(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    alice = make_user("alice")
    _scored(benchmark, tiny_bundles, alice, "only-method", 0.7)
    recompute(benchmark)
    board = _section(
        client.get("/tasks/tiny-derm/").content.decode(), 'id="task-board"', "</table>"
    )
    assert "only-method" in board and "late-method" not in board
    ood = client.get("/tasks/tiny-derm/?split=test_ood").content.decode()
    assert '<strong aria-current="page">test_ood</strong>' in ood
    _scored(benchmark, tiny_bundles, alice, "late-method", 0.9)
    recompute(benchmark)
    board = _section(
        client.get("/tasks/tiny-derm/").content.decode(), 'id="task-board"', "</table>"
    )
    assert board.index("late-method") < board.index("only-method")
    warm, _ = _queries(client, "/tasks/tiny-derm/")
    assert warm <= 2  # the task and the catalogue version


def test_cached_parts_stay_html_through_a_shared_redis_cache(
    benchmark: Benchmark, settings: Any, redis_url: str
) -> None:
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    cache.clear()
    try:
        for _ in range(2):  # the second answer comes from Redis (pickled, then read back)
            home = Client().get("/").content.decode()
            assert '<section class="benchmark" id="benchmark-tiny-bench">' in home
            assert '<a class="nav-bench" href="/b/tiny-bench/">' in home
            task = Client().get("/tasks/tiny-derm/").content.decode()
            assert "<h2>Splits</h2>" in task and "&lt;h2&gt;" not in task
    finally:
        cache.clear()
