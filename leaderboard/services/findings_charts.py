"""Plotly figure specs for the findings panels, drawn by ``static/js/charts.js`` like the charts
page's (the same layout, palette and markers from ``leaderboard.services.charts``). A panel
without data still gets its figure, saying what is missing, so the page always has four."""

from __future__ import annotations

import math
from typing import Any

from evaluator.findings import Estimate, Findings, Panel, ScalingRow
from leaderboard.services.chart_axes import score_range
from leaderboard.services.charts import PALETTE, figure_layout, marker_style


def _empty(spec: dict[str, Any], panel: Panel) -> dict[str, Any]:
    note = "; ".join(panel["missing"][:3]) or "not enough data"
    spec["layout"]["annotations"] = [
        {
            "text": f"not enough data: {note}",
            "showarrow": False,
            "xref": "paper",
            "yref": "paper",
            "x": 0.5,
            "y": 0.5,
        }
    ]
    return spec


def _fit_line(row: ScalingRow, i: int) -> dict[str, Any] | None:
    slope = row["slope"]
    points = [p for p in row["points"] if p["value"] is not None and p["tunable_params"]]
    if slope is None or slope["value"] is None or not points:
        return None
    lx = [math.log10(p["tunable_params"] or 1) for p in points]
    ys = [p["value"] or 0.0 for p in points]
    mx, my = sum(lx) / len(lx), sum(ys) / len(ys)
    lo, hi = min(lx), max(lx)
    return {
        "type": "scatter",
        "mode": "lines",
        "name": f"{row['family']} fit ({slope['value']:+.3f} per decade)",
        "x": [10**lo, 10**hi],
        "y": [my + slope["value"] * (lo - mx), my + slope["value"] * (hi - mx)],
        "line": {"color": PALETTE[i % len(PALETTE)], "dash": "dash"},
    }


def scaling_figure(data: Findings) -> dict[str, Any]:
    panel = data["scaling"]
    traces: list[dict[str, Any]] = []
    for i, row in enumerate(panel["rows"]):
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": row["family"],
                "x": [p["tunable_params"] for p in row["points"]],
                "y": [p["value"] for p in row["points"]],
                "text": [p["label"] for p in row["points"]],
                "marker": marker_style(i),
            }
        )
        line = _fit_line(row, i)
        if line is not None:
            traces.append(line)
    values = [p["value"] for r in panel["rows"] for p in r["points"]]
    layout = figure_layout(
        panel["title"],
        "tunable parameters (log scale)",
        f"overall score, {data['split']}",
        xaxis={"type": "log"},
        yaxis={"range": score_range(values)},
    )
    spec = {"id": "chart-findings-scaling", "data": traces, "layout": layout}
    return spec if panel["available"] else _empty(spec, panel)


def _bars(
    chart_id: str, panel: Panel, rows: list[tuple[str, Estimate | None]], y_title: str
) -> dict[str, Any]:
    """One bar per group with its 95% CI; a dotted line at 0 (no difference)."""
    shown = [(name, e) for name, e in rows if e is not None and e["value"] is not None]
    ys = [e["value"] for _, e in shown if e is not None]
    ups = [_dist(e["ci_high"], e["value"]) for _, e in shown if e is not None]
    downs = [_dist(e["value"], e["ci_low"]) for _, e in shown if e is not None]
    trace = {
        "type": "bar",
        "name": y_title,
        "x": [name for name, _ in shown],
        "y": ys,
        "marker": {"color": PALETTE[0]},
        "error_y": {"type": "data", "symmetric": False, "array": ups, "arrayminus": downs},
    }
    layout = figure_layout(panel["title"], "", y_title)
    layout["shapes"] = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": 0,
            "y1": 0,
            "line": {"color": "#555555", "dash": "dot"},
        }
    ]
    spec = {"id": chart_id, "data": [trace], "layout": layout}
    return spec if panel["available"] else _empty(spec, panel)


def _dist(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def findings_charts(data: Findings) -> list[dict[str, Any]]:
    split = data["split"]
    pre, ood, gmoe = data["pretraining"], data["ood"], data["gmoe"]
    return [
        scaling_figure(data),
        _bars(
            "chart-findings-pretraining",
            pre,
            [(r["name"], r["difference"]) for r in pre["rows"]],
            f"medical − general, {split}",
        ),
        _bars(
            "chart-findings-ood",
            ood,
            [(r["name"], r["gap"]) for r in ood["rows"]],
            "test_id − test_ood gap",
        ),
        _bars(
            "chart-findings-gmoe",
            gmoe,
            [(r["name"], r["difference"]) for r in gmoe["rows"]],
            f"GMoE-Adapter − best single-backbone, {split}",
        ),
    ]
