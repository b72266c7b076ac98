"""Axis ranges and sizes computed from the plotted data, shared by every chart.

Plotly's autorange pads a lone point by a fixed amount (a score of 0.6 gets a 0-1.5 axis, a single
date gets a millisecond-wide axis), so the charts set ranges themselves: scores stay within the
metrics' bounds, dates read in whole days, a heatmap is as tall as its rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

# Every registered metric (accuracy, balanced accuracy, AUROC, F1) lies in [0, 1].
SCORE_BOUNDS = (0.0, 1.0)
MIN_SCORE_PAD = 0.05
SCORE_PAD_FRACTION = 0.1
DAY = timedelta(days=1)
DAY_MS = 86_400_000
# Up to this span the ticks are set in whole days; beyond it plotly's own date ticks are coarser
# than a day anyway.
DAILY_TICKS_MAX_DAYS = 62
MAX_DATE_TICKS = 10
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
HEATMAP_ROW_PX = 26
HEATMAP_MIN_ROWS_PX = 3 * HEATMAP_ROW_PX  # room for a readable colour bar


def score_range(values: Iterable[float | None]) -> list[float]:
    """Every value with a margin, clipped to the metric's bounds (widened only by values that
    break them, so no point is ever hidden)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return list(SCORE_BOUNDS)
    lo, hi = min(finite), max(finite)
    pad = max(SCORE_PAD_FRACTION * (hi - lo), MIN_SCORE_PAD)
    return [max(min(SCORE_BOUNDS[0], lo), lo - pad), min(max(SCORE_BOUNDS[1], hi), hi + pad)]


def plotly_date(when: datetime) -> str:
    """UTC wall time, the form plotly reads without guessing at offsets."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.strftime(DATE_FORMAT)


def parse_dates(stamps: Iterable[str]) -> list[datetime]:
    return [datetime.fromisoformat(s) for s in stamps if s]


def date_axis(times: list[datetime]) -> dict[str, Any]:
    """A date axis padded by at least a day each side: one point, or points minutes apart, still
    read as dates with day ticks instead of sub-second ones. Hover keeps the minute."""
    axis: dict[str, Any] = {"type": "date", "hoverformat": "%Y-%m-%d %H:%M UTC"}
    if not times:
        return axis
    lo, hi = min(times), max(times)
    pad = max((hi - lo) / 20, DAY)
    start, end = lo - pad, hi + pad
    axis["range"] = [plotly_date(start), plotly_date(end)]
    days = (end - start) / DAY
    if days <= DAILY_TICKS_MAX_DAYS:
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        axis.update(
            tickmode="linear",
            tick0=plotly_date(midnight),
            dtick=DAY_MS * max(1, math.ceil(days / MAX_DATE_TICKS)),
            tickformat="%b %-d",
        )
    return axis


def heatmap_plot_height(rows: int) -> int:
    """Plot-area height in pixels: a fixed height per row, so no row is stretched into a band."""
    return max(rows * HEATMAP_ROW_PX, HEATMAP_MIN_ROWS_PX)
