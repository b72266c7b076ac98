"""Chart specs: axis ranges from the data within the metrics' bounds, dates in whole days, a
heatmap as tall as its rows, and a charts page that leaves each title to its figure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from leaderboard.models import Benchmark
from leaderboard.services.boards import recompute
from leaderboard.services.chart_axes import (
    DAY_MS,
    MIN_SCORE_PAD,
    date_axis,
    heatmap_plot_height,
    score_range,
)
from tests.browser.board_seed import seed_board

DAY = timedelta(days=1)
NOW = datetime(2026, 3, 14, 15, 9, 26, 535000, tzinfo=UTC)
TIME_CODES = ("%H", "%I", "%M", "%S", "%L", "%f")


def _span_ms(axis: dict[str, Any]) -> float:
    lo, hi = (datetime.fromisoformat(v) for v in axis["range"])
    return (hi - lo) / timedelta(milliseconds=1)


@pytest.mark.parametrize("value", [0.0, 0.02, 0.625, 0.98, 1.0])
def test_one_score_gets_a_padded_range_inside_the_bounds(value: float) -> None:
    lo, hi = score_range([value])
    assert 0.0 <= lo <= value <= hi <= 1.0
    assert hi - lo >= MIN_SCORE_PAD  # not plotly's 0-1.5 for one point, not a zero-width axis
    assert hi - lo <= 2 * MIN_SCORE_PAD + 1e-9


def test_score_range_follows_the_data() -> None:
    lo, hi = score_range([0.61, None, 0.68, float("nan"), 0.64])
    assert lo < 0.61 and hi > 0.68 and hi - lo < 0.2
    assert score_range([]) == [0.0, 1.0]
    lo, hi = score_range([0.9, 1.2])  # a value past the bounds is still shown, never clipped
    assert lo < 0.9 and hi >= 1.2


@pytest.mark.parametrize(
    "times",
    [[NOW], [NOW - timedelta(minutes=2), NOW - timedelta(minutes=1), NOW]],
    ids=["one", "minutes-apart"],
)
def test_close_dates_read_in_days(times: list[datetime]) -> None:
    axis = date_axis(times)
    assert _span_ms(axis) >= 2 * DAY_MS
    assert not any(code in axis["tickformat"] for code in TIME_CODES), axis["tickformat"]
    assert axis["dtick"] % DAY_MS == 0 and axis["tick0"].endswith("00:00:00")
    lo, hi = (datetime.fromisoformat(v).replace(tzinfo=UTC) for v in axis["range"])
    assert lo < min(times) and max(times) < hi


def test_weeks_get_day_ticks_and_years_plotly_ticks() -> None:
    weeks = date_axis([NOW - 16 * DAY, NOW])
    assert weeks["dtick"] % DAY_MS == 0
    assert 4 <= _span_ms(weeks) / weeks["dtick"] <= 12
    years = date_axis([NOW - 700 * DAY, NOW])
    assert "dtick" not in years and "tickformat" not in years  # plotly's month/year ticks
    assert _span_ms(years) > 700 * DAY_MS


def test_dates_are_utc_wall_time() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert date_axis([local])["range"] == date_axis([NOW])["range"]
    assert date_axis([])["type"] == "date" and "range" not in date_axis([])


def test_heatmap_rows_keep_one_height() -> None:
    assert heatmap_plot_height(20) - heatmap_plot_height(10) == 10 * (heatmap_plot_height(10) // 10)
    assert heatmap_plot_height(1) == heatmap_plot_height(3)  # room for the colour bar
    assert heatmap_plot_height(0) > 0


class _Page(HTMLParser):
    """The chart specs (json_script) and the page's visible text nodes."""

    def __init__(self) -> None:
        super().__init__()
        self.specs: dict[str, dict[str, Any]] = {}
        self.texts: list[str] = []
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._script = dict(attrs).get("id") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script:
            spec = json.loads(data)
            self.specs[spec["id"]] = spec
        elif self._script is None and data.strip():
            self.texts.append(data.strip())


@pytest.fixture
def one_entry(benchmark: Benchmark, tiny_bundles: Path, settings: Any, tmp_path: Path) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    (sub,) = seed_board(tiny_bundles, benchmark, 1, spacing_s=0)
    recompute(benchmark)
    return sub


def _charts_page(client: Any, url: str) -> _Page:
    response = client.get(url)
    assert response.status_code == 200
    page = _Page()
    page.feed(response.content.decode())
    return page


def _plotted(spec: dict[str, Any], axis: str) -> list[float]:
    """The values of the data traces (not the fit or the diagonal) on one axis."""
    return [v for t in spec["data"] if t.get("mode") != "lines" for v in t[axis] if v is not None]


@pytest.mark.parametrize("url", ["/b/tiny-bench/charts/", "/b/tiny-bench/xray/charts/"])
def test_one_entry_charts_fit_their_point(client: Any, one_entry: Any, url: str) -> None:
    specs = _charts_page(client, url).specs
    history = specs["chart-history"]["layout"]
    assert _span_ms(history["xaxis"]) >= 2 * DAY_MS
    for chart in ("chart-history", "chart-scaling", "chart-pretraining", "chart-id-ood"):
        lo, hi = specs[chart]["layout"]["yaxis"]["range"]
        values = _plotted(specs[chart], "y")
        assert values and 0.0 <= lo < min(values) <= max(values) < hi <= 1.0, (chart, lo, hi)
    ood = specs["chart-id-ood"]["layout"]
    assert ood["xaxis"]["range"] == ood["yaxis"]["range"]  # the diagonal at 45 degrees
    heatmap = specs["chart-heatmap"]
    margins = heatmap["layout"]["margin"]["t"] + heatmap["layout"]["margin"]["b"]
    assert heatmap["layout"]["height"] == margins + heatmap_plot_height(1)
    cells = heatmap["data"][0]["z"][0]
    assert heatmap["data"][0]["zmin"] < min(cells) <= max(cells) < heatmap["data"][0]["zmax"]


def test_charts_page_leaves_each_title_to_its_figure(client: Any, one_entry: Any) -> None:
    page = _charts_page(client, "/b/tiny-bench/charts/")
    titles = [spec["layout"]["title"]["text"] for spec in page.specs.values()]
    assert len(titles) == 5
    assert [t for t in titles if t in page.texts] == []  # plotly draws each title once
