"""Plotly figure specs (plain JSON) for the boards, drawn in the page by ``static/js/charts.js``.

Each chart reads a bounded number of stored rows, so a chart page costs the same with ten or ten
thousand submissions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from django.db.models import QuerySet

from leaderboard.models import BoardEntry, Submission
from leaderboard.services.boardquery import Board, BoardFilters, filtered, metric_for
from leaderboard.services.chart_axes import (
    date_axis,
    heatmap_plot_height,
    parse_dates,
    plotly_date,
    score_range,
)

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon"]
CHART_ROWS = 500  # best rows plotted per chart
HEATMAP_ROWS = 20
PRETRAININGS = ("general", "medical", "both")
SPLITS = ("test_id", "test_ood")


MARGIN = {"l": 60, "r": 20, "t": 50, "b": 60}


def figure_layout(title: str, x: str, y: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x}, **extra.pop("xaxis", {})},
        "yaxis": {"title": {"text": y}, **extra.pop("yaxis", {})},
        "margin": dict(MARGIN),
        "legend": {"orientation": "h", "y": -0.25},
        "height": 420,
        **extra,
    }


def _family(name: str) -> str:
    return name or "unspecified"


def marker_style(i: int) -> dict[str, Any]:
    return {"color": PALETTE[i % len(PALETTE)], "symbol": SYMBOLS[i % len(SYMBOLS)], "size": 9}


def exclude_reference(qs: QuerySet[BoardEntry]) -> QuerySet[BoardEntry]:
    """Without the server's reference rows (``Submission.is_reference``): a fixed yardstick shown
    on the boards, not a method, so no chart or finding counts it."""
    return qs.exclude(submission__is_reference=True)


def _rows(board: Board, f: BoardFilters, *fields: str) -> list[tuple[Any, ...]]:
    qs = exclude_reference(filtered(board, f)).filter(
        complete=True, **{f"{f.split}__isnull": False}
    )
    return list(qs.order_by(f"-{f.split}", "submission_id").values_list(*fields)[:CHART_ROWS])


def log_linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least squares ``y = a + b log10(x)``; None with fewer than two distinct x."""
    lx = [math.log10(x) for x in xs]
    if len(set(lx)) < 2:
        return None
    mx, my = sum(lx) / len(lx), sum(ys) / len(ys)
    sxx = sum((v - mx) ** 2 for v in lx)
    b = sum((v - mx) * (y - my) for v, y in zip(lx, ys, strict=True)) / sxx
    return my - b * mx, b


def scaling_chart(board: Board, f: BoardFilters) -> dict[str, Any]:
    rows = _rows(board, f, "method_family", "tunable_params", f.split, "method_name")
    rows = [r for r in rows if r[1] and r[1] > 0]
    by_family: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        by_family[_family(r[0])].append(r)
    data: list[dict[str, Any]] = []
    for i, (family, items) in enumerate(sorted(by_family.items())):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": family,
                "x": [r[1] for r in items],
                "y": [r[2] for r in items],
                "text": [r[3] for r in items],
                "marker": marker_style(i),
            }
        )
    fit = log_linear_fit([float(r[1]) for r in rows], [float(r[2]) for r in rows])
    if fit is not None:
        lo, hi = min(r[1] for r in rows), max(r[1] for r in rows)
        xs = [lo * (hi / lo) ** (k / 20) for k in range(21)]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"log-linear fit (slope {fit[1]:.3f} per decade)",
                "x": xs,
                "y": [fit[0] + fit[1] * math.log10(x) for x in xs],
                "line": {"color": "#555555", "dash": "dash"},
            }
        )
    layout = figure_layout(
        f"Score vs tunable parameters ({f.split})",
        "tunable parameters (log scale)",
        f"mean primary metric, {f.split}",
        xaxis={"type": "log"},
        yaxis={"range": score_range(r[2] for r in rows)},
    )
    return {"id": "chart-scaling", "data": data, "layout": layout}


def id_ood_chart(board: Board, f: BoardFilters) -> dict[str, Any]:
    rows = _rows(board, f, "method_family", "test_id", "test_ood", "method_name")
    rows = [r for r in rows if r[1] is not None and r[2] is not None]
    by_family: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        by_family[_family(r[0])].append(r)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": family,
            "x": [r[1] for r in items],
            "y": [r[2] for r in items],
            "text": [r[3] for r in items],
            "marker": marker_style(i),
        }
        for i, (family, items) in enumerate(sorted(by_family.items()))
    ]
    # One range for both axes, so the diagonal runs corner to corner at 45 degrees.
    lo, hi = score_range(v for r in rows for v in r[1:3])
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "test_ood = test_id",
            "x": [lo, hi],
            "y": [lo, hi],
            "line": {"color": "#555555", "dash": "dot"},
        }
    )
    layout = figure_layout(
        "In-distribution vs patient out-of-distribution",
        "test_id",
        "test_ood",
        xaxis={"range": [lo, hi]},
        yaxis={"range": [lo, hi]},
    )
    return {"id": "chart-id-ood", "data": data, "layout": layout}


def pretraining_chart(board: Board, f: BoardFilters) -> dict[str, Any]:
    qs = BoardEntry.objects.filter(
        benchmark=board.benchmark,
        protocol=f.protocol,
        complete=True,
        pretraining__in=PRETRAININGS,
        **{f"best_{f.split}": True, f"{f.split}__isnull": False},
    )
    if board.modality is not None:
        qs = qs.filter(modality=board.modality)
    else:
        qs = qs.filter(modality__isnull=False)
    qs = exclude_reference(qs)
    rows = list(
        qs.order_by(f"-{f.split}").values_list("modality__name", "pretraining", f.split)[
            : CHART_ROWS * 4
        ]
    )
    data = []
    for i, kind in enumerate(PRETRAININGS):
        items = [r for r in rows if r[1] == kind]
        data.append(
            {
                "type": "box",
                "name": kind,
                "x": [r[0] for r in items],
                "y": [r[2] for r in items],
                "boxpoints": "all",
                "marker": {"color": PALETTE[i]},
            }
        )
    layout = figure_layout(
        f"Backbone pre-training per modality ({f.split})",
        "modality",
        "modality score",
        yaxis={"range": score_range(r[2] for r in rows)},
    )
    layout["boxmode"] = "group"
    return {"id": "chart-pretraining", "data": data, "layout": layout}


def heatmap_chart(board: Board, f: BoardFilters) -> dict[str, Any]:
    qs = exclude_reference(filtered(board, f)).filter(
        complete=True, **{f"{f.split}__isnull": False}
    )
    rows = list(qs.order_by(f"-{f.split}", "submission_id")[: HEATMAP_ROWS + 1])
    shown = f", best {HEATMAP_ROWS}" if len(rows) > HEATMAP_ROWS else ""
    rows = rows[:HEATMAP_ROWS]
    labels = [f"{e.method_name} ({e.team_name or e.owner_name}) #{e.submission_id}" for e in rows]
    z = [
        [
            ((e.cells.get(t.slug, {}).get(f.split) or {}).get(metric_for(t, f)) or [None])[0]
            for t in board.tasks
        ]
        for e in rows
    ]
    zrange = score_range(v for row in z for v in row)
    data = [
        {
            "type": "heatmap",
            "x": [t.slug for t in board.tasks],
            "y": labels,
            "z": z,
            "colorscale": "Viridis",
            # a scale from the scores, so one entry or near-equal ones still map to real values
            "zmin": zrange[0],
            "zmax": zrange[1],
            "hoverongaps": False,
        }
    ]
    layout = figure_layout(
        f"Task × method ({f.split}{shown})", "task", "", yaxis={"autorange": "reversed"}
    )
    layout["margin"]["l"] = 220
    layout["height"] = MARGIN["t"] + MARGIN["b"] + heatmap_plot_height(len(rows))
    return {"id": "chart-heatmap", "data": data, "layout": layout}


def history_chart(board: Board, f: BoardFilters) -> dict[str, Any]:
    steps = board.state.history.get(board.slug, {}).get(f"{f.protocol}:{f.split}", [])
    steps = [s for s in steps if s[0]]  # a step without a finish time has no place on the axis
    # The stored history is the boards' (services/boards.py); a reference row among its steps is
    # dropped here, which is exact once the recompute leaves reference rows out of the history.
    references = set(
        Submission.objects.filter(benchmark=board.benchmark, is_reference=True).values_list(
            "pk", flat=True
        )
    )
    steps = [s for s in steps if len(s) < 4 or s[3] not in references]
    times = parse_dates(s[0] for s in steps)
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "line": {"shape": "hv", "color": PALETTE[0]},
            "name": "best score",
            "x": [plotly_date(t) for t in times],
            "y": [s[1] for s in steps],
            "text": [s[2] for s in steps],
        }
    ]
    layout = figure_layout(
        f"Best score over time ({f.split})",
        "date (UTC)",
        "best complete score",
        xaxis=date_axis(times),
        yaxis={"range": score_range(s[1] for s in steps)},
    )
    return {"id": "chart-history", "data": data, "layout": layout}


def board_charts(board: Board, f: BoardFilters) -> list[dict[str, Any]]:
    return [
        scaling_chart(board, f),
        id_ood_chart(board, f),
        pretraining_chart(board, f),
        heatmap_chart(board, f),
        history_chart(board, f),
    ]


def class_balance_chart(counts: dict[str, list[int]], classes: list[str]) -> dict[str, Any]:
    data = [
        {"type": "bar", "name": split, "x": classes, "y": values, "marker": {"color": PALETTE[i]}}
        for i, (split, values) in enumerate(counts.items())
    ]
    layout = figure_layout("Class balance (public splits)", "class", "images")
    layout["barmode"] = "group"
    return {"id": "chart-class-balance", "data": data, "layout": layout}


def submission_task_chart(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task primary metric with its 95% CI, test_id and test_ood side by side."""
    data = []
    for i, split in enumerate(SPLITS):
        ys = [t[split][0] for t in tasks]
        data.append(
            {
                "type": "bar",
                "name": split,
                "x": [t["slug"] for t in tasks],
                "y": ys,
                "marker": {"color": PALETTE[i]},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [_dist(t[split][2], t[split][0]) for t in tasks],
                    "arrayminus": [_dist(t[split][0], t[split][1]) for t in tasks],
                },
            }
        )
    # Bars start at zero; the top leaves room for the upper confidence limits.
    tops = [
        t[split][2] if t[split][2] is not None else t[split][0] for t in tasks for split in SPLITS
    ]
    layout = figure_layout(
        "Primary metric per task (95% CI)",
        "task",
        "primary metric",
        yaxis={"range": [0.0, score_range(tops)[1]]},
    )
    layout["barmode"] = "group"
    return {"id": "chart-submission-tasks", "data": data, "layout": layout}


def _dist(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b
