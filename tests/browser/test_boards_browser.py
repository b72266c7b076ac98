"""The boards in a real browser: load, sort, switch split, charts drawn by plotly, no console
errors under the strict content-security policy; a screenshot of every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leaderboard.models import Benchmark
from leaderboard.services.boards import recompute
from tests.browser.conftest import Console, shot
from tests.browser.seed import make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAMILIES = ("lora", "adapter", "linear")


@pytest.fixture
def seeded(tiny_bundles: Path, settings: Any, tmp_path: Path) -> Benchmark:
    from leaderboard.services.registration import sync_benchmark

    settings.MEDIA_ROOT = tmp_path / "media"
    sync_benchmark(tiny_bundles, "tiny-bench")
    bench = Benchmark.objects.get(slug="tiny-bench")
    for i in range(9):
        user = make_user(f"user{i}")
        family = FAMILIES[i % 3]
        base = 0.55 + 0.04 * i
        values = {
            "tiny-cxr": (base, base - 0.1),
            "tiny-derm": (1.4 - base, 1.3 - base),
            "tiny-oct": (base / 2 + 0.3, base / 2 + 0.2),
        }
        scored_submission(
            user,
            bench,
            make_score(tiny_bundles, values, seed=i),
            method_name=f"{family}-{i}",
            method_family=family,
            reported_tunable_params=10 ** (3 + i % 5),
            pretraining=("general", "medical", "both")[i % 3],
            is_baseline=i == 0,
            finished_offset_s=60 * i,
        )
    recompute(bench)
    return bench


def _values(page: Any, col: str) -> list[float]:
    cells = page.locator(f"#board-table tbody td[data-col='{col}']")
    return [float(v) for v in cells.evaluate_all("els => els.map(e => e.dataset.value)")]


def _clean(console: Console) -> None:
    assert console.errors == [], "\n".join(console.errors)


def test_pages_sorting_split_and_charts(live_server: Any, seeded: Benchmark, page: Any) -> None:
    tab, console = page
    base = live_server.url
    tab.goto(base + "/")
    assert tab.locator("nav[aria-label=Leaderboards] a.nav-mod").count() == 3
    shot(tab, "home")
    tab.click("nav[aria-label=Leaderboards] a.nav-bench")
    tab.wait_for_selector("#board-table")
    assert tab.locator("#board-table tbody tr").count() == 9
    overall = _values(tab, "test_id")
    assert overall == sorted(overall, reverse=True)
    shot(tab, "board-overall")

    tab.click("th[data-sort-key='task:tiny-derm'] a")
    tab.wait_for_url("**sort=task%3Atiny-derm**")
    derm = _values(tab, "task:tiny-derm")
    assert derm == sorted(derm, reverse=True) and derm != sorted(derm)
    tab.click("th[data-sort-key='task:tiny-derm'] a")  # again: ascending
    tab.wait_for_url("**order=asc**")
    assert _values(tab, "task:tiny-derm") == sorted(derm)
    assert tab.get_attribute("th[data-sort-key='task:tiny-derm']", "aria-sort") == "ascending"
    shot(tab, "board-sorted")

    tab.click("a[data-split-link=test_ood]")
    tab.wait_for_url("**split=test_ood**")
    assert tab.get_attribute("#board", "data-split") == "test_ood"
    ood = _values(tab, "task:tiny-derm")
    assert ood == sorted(ood) and ood != derm  # the ood scores, still sorted ascending
    shot(tab, "board-test-ood")

    tab.click("nav[aria-label=Leaderboards] a.nav-mod >> nth=0")
    tab.wait_for_selector("#board-table")
    assert tab.locator("#board-table thead th.task-col").count() == 1
    shot(tab, "board-modality")

    tab.goto(base + "/b/tiny-bench/charts/")
    tab.wait_for_selector("#chart-scaling[data-rendered='1'] .main-svg")
    traces = tab.evaluate(
        "() => document.getElementById('chart-scaling').data.map(t => [t.mode, t.name])"
    )
    markers = [name for mode, name in traces if mode == "markers"]
    assert sorted(markers) == sorted(FAMILIES)
    assert any(mode == "lines" for mode, _ in traces)  # the fitted trend
    assert tab.locator("#chart-scaling .scatterlayer .trace").count() == len(FAMILIES) + 1
    assert tab.evaluate("() => document.getElementById('chart-scaling').layout.xaxis.type") == "log"
    for chart in ("chart-id-ood", "chart-pretraining", "chart-heatmap", "chart-history"):
        tab.wait_for_selector(f"#{chart}[data-rendered='1'] .main-svg")
    shot(tab, "charts")

    tab.goto(base + "/tasks/tiny-derm/")
    tab.wait_for_selector("#chart-class-balance[data-rendered='1'] .main-svg")
    assert tab.locator("#task-board tbody tr").count() == 9
    shot(tab, "task")
    tab.goto(base + "/methods/lora/")
    shot(tab, "method")
    _clean(console)


def test_phone_width_and_no_horizontal_scroll(
    live_server: Any, seeded: Benchmark, browser: Any
) -> None:
    for width, name in ((1280, "wide"), (390, "phone")):
        context = browser.new_context(viewport={"width": width, "height": 800})
        tab = context.new_page()
        console = Console(tab)
        tab.goto(live_server.url + "/b/tiny-bench/")
        wide = tab.evaluate("() => document.documentElement.scrollWidth")
        table = tab.evaluate("() => document.getElementById('board-table').scrollWidth")
        assert wide <= width and table <= width, (width, wide, table)
        shot(tab, f"board-{name}")
        _clean(console)
        context.close()
