"""Phase pages, the phases on the board and home pages, and the web form's refusal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from leaderboard.models import Submission
from tests.factories import make_phase
from tests.leaderboard.test_phases import DAY, media  # noqa: F401 - fixture
from tests.leaderboard.test_text_validators import _post

pytestmark = pytest.mark.django_db


@pytest.fixture
def phases(benchmark: Any) -> dict[str, Any]:
    now = timezone.now().replace(microsecond=0)
    open_ = make_phase(
        benchmark, "final", now - DAY, now + 2 * DAY, name="Final test",
        tracks=["checkpoint"], protocols=["full"], checkpoints_required=True, quota_scored=2,
    )  # fmt: skip
    later = make_phase(benchmark, "extra", now + 3 * DAY, now + 4 * DAY, name="Extra time")
    return {"open": open_, "later": later}


def test_the_phase_page_says_what_is_scored_and_when_in_time_elements(
    phases: dict[str, Any], client: Client
) -> None:
    phase = phases["open"]
    response = client.get(f"/b/tiny-bench/phases/{phase.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    closes = phase.closes.isoformat()
    # the UTC text for readers without JavaScript, the ISO moment for the script
    assert f'<time class="local-time" datetime="{closes}">' in html
    assert phase.closes.strftime("%Y-%m-%d %H:%M") + " UTC</time>" in html
    tracks = re.search(r'id="phase-tracks">([^<]*)<', html)
    assert tracks and tracks.group(1) == "checkpoint"
    assert re.search(r'id="phase-checkpoints">yes', html)
    assert re.search(r'id="phase-quotas">2 scored or in flight', html)
    assert 'id="phase-state">open<' in html
    assert '<script src="/static/js/localtime.js" defer></script>' in html
    assert "<script>" not in html  # nothing inline: the strict CSP would block it
    assert client.get("/b/tiny-bench/phases/nope/").status_code == 404


def test_board_links_its_phases_and_home_shows_the_open_one(
    phases: dict[str, Any], client: Client
) -> None:
    board = client.get("/b/tiny-bench/").content.decode()
    section = board.split('id="board-phases"', 1)[1]
    assert 'href="/b/tiny-bench/phases/final/"' in section
    assert 'href="/b/tiny-bench/phases/extra/"' in section and "upcoming" in section
    home = client.get("/").content.decode()
    shown = home.split('id="open-phases"', 1)[1].split("</section>", 1)[0]
    assert 'href="/b/tiny-bench/phases/final/"' in shown and "Extra time" not in shown


def test_a_new_phase_shows_at_once_and_cached_pages_stay_cheap(
    benchmark: Any, client: Client
) -> None:
    assert 'id="open-phases"' not in client.get("/").content.decode()
    client.get("/")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/")
    before = len(ctx.captured_queries)
    now = timezone.now()
    make_phase(benchmark, "now", now - DAY, now + DAY)
    assert 'id="open-phases"' in client.get("/").content.decode()
    with CaptureQueriesContext(connection) as ctx:
        client.get("/")
    assert len(ctx.captured_queries) == before  # the phases come from the cache


def test_a_benchmark_without_phases_shows_none(benchmark: Any, client: Client) -> None:
    board = client.get("/b/tiny-bench/").content.decode()
    assert 'id="board-phases"' not in board and "localtime.js" not in board


def test_the_web_form_shows_the_refusal_and_stores_nothing(
    phases: dict[str, Any], alice: Any, benchmark: Any, tiny_bundles: Path, media: Path,
    client: Client,
) -> None:  # fmt: skip
    client.force_login(alice)
    response = _post(client, benchmark, tiny_bundles)
    assert response.status_code == 409
    html = response.content.decode()
    assert "scores the checkpoint track only (it requires checkpoints), not predictions" in html
    assert "&#x27;Extra time&#x27;, opens at" in html
    assert Submission.objects.count() == 0 and not (media / "submissions").exists()


def _admin_post(client: Client, benchmark: Any, slug: str, opens: str, closes: str) -> Any:
    return client.post(
        "/admin/leaderboard/phase/add/",
        {
            "benchmark": benchmark.pk, "name": slug.title(), "slug": slug, "description": "",
            "opens_0": opens, "opens_1": "12:00:00", "closes_0": closes, "closes_1": "12:00:00",
            "tracks": ["checkpoint"], "protocols": ["full", "1k"], "checkpoints_required": "on",
            "quota_scored": "1", "quota_in_flight": "", "quota_attempts": "",
        },
    )  # fmt: skip


def test_staff_open_a_phase_in_the_admin_and_overlaps_are_refused(
    benchmark: Any, client: Client, django_user_model: Any
) -> None:
    root = django_user_model.objects.create_superuser("root", "root@example.org", "pw-12345678")
    client.force_login(root)
    assert client.get("/admin/leaderboard/phase/add/").status_code == 200
    created = _admin_post(client, benchmark, "final", "2031-03-01", "2031-03-05")
    assert created.status_code == 302, created.content.decode()[-2000:]
    phase = benchmark.phases.get()
    assert (phase.tracks, phase.protocols, phase.quota_scored) == (["checkpoint"], ["full", "1k"], 1)
    assert phase.checkpoints_required and phase.opens.isoformat() == "2031-03-01T12:00:00+00:00"
    clash = _admin_post(client, benchmark, "extra", "2031-03-04", "2031-03-06")
    assert clash.status_code == 200 and "overlaps phase &#x27;final&#x27;" in clash.content.decode()
    assert benchmark.phases.count() == 1
