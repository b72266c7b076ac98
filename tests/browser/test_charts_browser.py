"""The charts as drawn by plotly in a real browser, for boards of one, three and fifty entries:
axis ranges fit the data and the metric's bounds, dates read as dates, each title appears once,
the heatmap has no empty band. Every chart is screenshotted under var/screenshots/charts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from leaderboard.models import Benchmark
from leaderboard.services.boards import recompute
from tests.browser.board_seed import seed_board
from tests.browser.conftest import Console
from tests.procs import REPO

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = REPO / "var" / "screenshots" / "charts"
BOARD_CHARTS = (
    "chart-scaling",
    "chart-id-ood",
    "chart-pretraining",
    "chart-heatmap",
    "chart-history",
)
# Entries and the time between their results: one point, three within minutes, fifty over weeks.
SIZES = {1: 0.0, 3: 60.0, 50: 8 * 3600.0}
DAY_MS = 86_400_000
HEATMAP_ROWS = 20
SUBMISSION = "chart-submission-tasks"
BALANCE = "chart-class-balance"
TIME = re.compile(r"\d:\d\d|\.\d")  # a time of day or a fraction of a second
SCORE_AXES = {
    "chart-history": ("y",),
    "chart-scaling": ("y",),
    "chart-id-ood": ("x", "y"),
    "chart-pretraining": ("y",),
}

# What plotly drew: its computed layout (ranges after autorange) and the rendered boxes and text.
READ = """(id) => {
  const gd = document.getElementById(id), L = gd._fullLayout, fig = gd.closest("figure");
  const own = (el) => [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
  const axis = (a) => a && { type: a.type, range: a.range.map((v) => a.r2l(v)),
    ticks: [...gd.querySelectorAll(`.${a._id}tick text`)].map((t) => t.textContent) };
  const texts = [...fig.querySelectorAll("*")].filter((el) => el.tagName !== "SCRIPT").map(own);
  return {
    title: L.title.text, x: axis(L.xaxis), y: axis(L.yaxis),
    titles: texts.filter((t) => t === L.title.text).length,
    box: gd.getBoundingClientRect().height, svg: gd.querySelector(".main-svg").getBoundingClientRect().height,
    plot: L._size.h, rows: gd.data[0].type === "heatmap" ? gd.data[0].y.length : null,
    values: gd.data.filter((t) => t.mode !== "lines").flatMap((t) => [t.x, t.y]),
  };
}"""


@pytest.fixture(params=sorted(SIZES), ids=lambda n: f"{n}-entries")
def board(request: Any, tiny_bundles: Path, settings: Any, tmp_path: Path) -> tuple[int, int]:
    from leaderboard.services.registration import sync_benchmark

    settings.MEDIA_ROOT = tmp_path / "media"
    sync_benchmark(tiny_bundles, "tiny-bench")
    bench = Benchmark.objects.get(slug="tiny-bench")
    subs = seed_board(tiny_bundles, bench, request.param, spacing_s=SIZES[request.param])
    recompute(bench)
    return request.param, subs[-1].pk


def _draw(tab: Any, url: str, charts: tuple[str, ...], name: str) -> dict[str, dict[str, Any]]:
    tab.goto(url)
    drawn = {}
    for chart in charts:
        tab.wait_for_selector(f"#{chart}[data-rendered='1'] .main-svg")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.locator(f"figure:has(#{chart})").screenshot(
            path=str(SCREENSHOTS / f"{name}-{chart}.png")
        )
        drawn[chart] = tab.evaluate(READ, chart)
    return drawn


def _within_unit(axis: dict[str, Any], what: str) -> list[str]:
    lo, hi = axis["range"]
    return [] if 0.0 <= lo < hi <= 1.0 else [f"{what}: range {lo:.3f}..{hi:.3f} leaves [0, 1]"]


def _shows_data(axis: dict[str, Any], values: list[Any], what: str) -> list[str]:
    lo, hi = axis["range"]
    outside = [v for v in values if isinstance(v, int | float) and not lo < v < hi]
    return [f"{what}: {outside} outside {lo:.3f}..{hi:.3f}"] if outside else []


def _history(c: dict[str, Any]) -> list[str]:
    lo, hi = c["x"]["range"]
    ticks = c["x"]["ticks"]
    problems = [] if hi - lo >= DAY_MS else [f"history: x spans {(hi - lo) / 1000:.3f} s"]
    problems += [f"history: tick {t!r} shows a time of day" for t in ticks if TIME.search(t)]
    if len(set(ticks)) != len(ticks) or len(ticks) < 2:
        problems.append(f"history: ticks {ticks} repeat or are too few")
    return problems


def _heatmap(c: dict[str, Any], n: int) -> list[str]:
    rows = c["rows"]
    if rows != min(n, HEATMAP_ROWS):
        return [f"heatmap: {rows} rows for {n} entries"]
    lo, hi = c["y"]["range"]
    problems = [] if abs(hi - lo) == rows else [f"heatmap: y spans {abs(hi - lo)} rows, not {rows}"]
    per_row = c["plot"] / rows
    if not 20 <= per_row <= 80:
        problems.append(f"heatmap: rows {per_row:.0f}px high")
    return problems


def _single_figure(c: dict[str, Any], chart: str) -> list[str]:
    problems = []
    if c["titles"] != 1:
        problems.append(f"{chart}: title {c['title']!r} shown {c['titles']} times")
    if c["box"] - c["svg"] > 2:
        problems.append(f"{chart}: {c['box'] - c['svg']:.0f}px empty band below the plot")
    return problems


def _problems(drawn: dict[str, dict[str, Any]], n: int) -> list[str]:
    problems = [p for chart, c in drawn.items() for p in _single_figure(c, chart)]
    for chart, axes in SCORE_AXES.items():
        for name in axes:
            problems += _within_unit(drawn[chart][name], f"{chart} {name}")
        values = [v for ys in drawn[chart]["values"][1::2] for v in ys]
        problems += _shows_data(drawn[chart]["y"], values, chart)
    return problems + _history(drawn["chart-history"]) + _heatmap(drawn["chart-heatmap"], n)


def test_board_charts_read_right(
    live_server: Any, board: tuple[int, int], page: tuple[Any, Console]
) -> None:
    n, best = board
    tab, console = page
    problems: list[str] = []
    for slug, path in (("overall", ""), ("xray", "xray/")):
        drawn = _draw(
            tab, f"{live_server.url}/b/tiny-bench/{path}charts/", BOARD_CHARTS, f"{slug}-{n}"
        )
        problems += [f"{slug}: {p}" for p in _problems(drawn, n)]
    sub = _draw(tab, f"{live_server.url}/submissions/{best}/", (SUBMISSION,), f"submission-{n}")
    problems += _single_figure(sub[SUBMISSION], "submission")
    lo, hi = sub[SUBMISSION]["y"]["range"]
    if lo != 0 or hi > 1:
        problems.append(f"submission: bars on {lo:.3f}..{hi:.3f}, not from 0 within [0, 1]")
    task = _draw(tab, f"{live_server.url}/tasks/tiny-derm/", (BALANCE,), f"task-{n}")
    problems += _single_figure(task[BALANCE], "task")
    assert problems == [], "\n".join(problems)
    assert console.errors == [], "\n".join(console.errors)
