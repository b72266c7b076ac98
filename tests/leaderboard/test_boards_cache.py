"""The board page cache is keyed by the board state, so a cached page can never outlive the rows
it was rendered from: not after a rolled-back recompute, not across tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from leaderboard.models import Benchmark, BoardState
from leaderboard.services.boards import recompute
from tests.browser.seed import make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")


class _Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _add(bench: Benchmark, root: Path, name: str, value: float) -> Any:
    score = make_score(root, {s: (value, value - 0.1) for s in ALL})
    return scored_submission(make_user(name), bench, score, method_name=name)


def test_a_rolled_back_recompute_leaves_no_page_that_a_later_one_could_reuse(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    _add(benchmark, tiny_bundles, "kept", 0.6)
    recompute(benchmark)
    assert ">kept<" in client.get("/b/tiny-bench/").content.decode()
    # a recompute whose transaction is rolled back after its page was cached (as a test's
    # database is, or a request's on error): the generation counter goes back with it
    with pytest.raises(_Rollback), transaction.atomic():
        _add(benchmark, tiny_bundles, "ghost", 0.9)
        recompute(benchmark)
        assert ">ghost<" in client.get("/b/tiny-bench/").content.decode()
        raise _Rollback
    before = BoardState.objects.get(benchmark=benchmark).generation
    _add(benchmark, tiny_bundles, "real", 0.8)
    recompute(benchmark)
    assert BoardState.objects.get(benchmark=benchmark).generation == before + 1
    html = client.get("/b/tiny-bench/").content.decode()
    assert ">real<" in html and ">ghost<" not in html
    charts = client.get("/b/tiny-bench/charts/").content.decode()
    assert "ghost" not in charts

