"""The findings page in headless Chromium under the site's strict CSP: four charts drawn by
plotly from the embedded JSON, each sentence shown, no console error or CSP violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leaderboard.models import Benchmark
from leaderboard.services.registration import sync_benchmark
from tests.browser.conftest import Console, shot
from tests.leaderboard.findings_seed import seed_findings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = (
    "chart-findings-scaling",
    "chart-findings-pretraining",
    "chart-findings-ood",
    "chart-findings-gmoe",
)


@pytest.fixture
def seeded(tiny_bundles: Path, settings: Any, tmp_path: Path) -> Benchmark:
    settings.MEDIA_ROOT = tmp_path / "media"
    sync_benchmark(tiny_bundles, "tiny-bench")
    bench = Benchmark.objects.get(slug="tiny-bench")
    seed_findings(tiny_bundles, bench)
    return bench


@pytest.mark.parametrize("query", ["?protocol=1k", "?protocol=full"], ids=["data", "empty"])
def test_findings_page_draws_four_charts(
    live_server: Any, seeded: Benchmark, page: tuple[Any, Console], query: str
) -> None:
    tab, console = page
    response = tab.goto(f"{live_server.url}/b/tiny-bench/findings/{query}")
    assert response.status == 200
    assert "script-src" in (response.headers.get("content-security-policy") or "")
    for chart in CHARTS:
        tab.wait_for_selector(f"#{chart}[data-rendered='1'] .main-svg")
    drawn = tab.evaluate(
        "(ids) => ids.map((id) => document.getElementById(id).querySelectorAll('.main-svg').length)",
        list(CHARTS),
    )
    assert all(n >= 1 for n in drawn), drawn
    sentences = tab.locator(".finding-sentence").all_inner_texts()
    assert len(sentences) == 4 and all(s.startswith("Synthetic data: ") for s in sentences)
    if query == "?protocol=full":  # no entries: every panel says what it lacks, in the figure too
        assert tab.locator("section.finding[data-available='0']").count() == 4
        assert tab.locator("text=not enough data").count() >= 1
    else:
        assert tab.locator("section.finding[data-available='1']").count() == 4
    shot(tab, f"findings-{'data' if query.endswith('1k') else 'empty'}")
    assert console.errors == [], "\n".join(console.errors)
