"""Template helpers of the boards: per-task charts and the best-baseline comparison of a
submission page (read from stored rows only)."""

from __future__ import annotations

from typing import Any

from django import template

from leaderboard.models import BoardEntry, Submission, Task
from leaderboard.models.boards import SPLITS, BoardScope
from leaderboard.services.charts import submission_task_chart

register = template.Library()


@register.filter
def get_item(mapping: dict[Any, Any], key: Any) -> Any:
    return (mapping or {}).get(key)


def _primary(score: dict[str, Any], task: Task, split: str) -> list[Any]:
    m = ((score.get("tasks") or {}).get(task.slug, {}).get(split) or {}).get(task.primary_metric)
    return [m.get("value"), m.get("ci_low"), m.get("ci_high")] if m else [None, None, None]


def _best_baseline(sub: Submission) -> BoardEntry | None:
    return (
        BoardEntry.objects.filter(
            benchmark_id=sub.benchmark_id,
            scope=BoardScope.OVERALL,
            is_baseline=True,
            protocol=sub.protocol,
            complete=True,
            test_id__isnull=False,
        )
        .exclude(submission_id=sub.pk)
        .order_by("-test_id", "submission_id")
        .first()
    )


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


@register.simple_tag
def submission_extras(sub: Submission) -> dict[str, Any]:
    """{"chart": per-task chart spec, "baseline": entry, "comparison": rows} for a succeeded
    submission; empty otherwise."""
    if sub.status != "succeeded" or not sub.score_json:
        return {}
    tasks = [t for t in Task.objects.filter(benchmark_id=sub.benchmark_id).order_by("slug")]
    scored = [t for t in tasks if t.slug in (sub.score_json.get("tasks") or {})]
    rows = [{"slug": t.slug, **{s: _primary(sub.score_json, t, s) for s in SPLITS}} for t in scored]
    baseline = _best_baseline(sub)
    comparison = []
    if baseline is not None:
        # from its score: its overall row holds the tasks open to both tracks only
        theirs_json = (
            Submission.objects.filter(pk=baseline.submission_id)
            .values_list("score_json", flat=True)
            .first()
        ) or {}
        for t in scored:
            theirs = {s: _primary(theirs_json, t, s)[0] for s in SPLITS}
            mine = {s: _primary(sub.score_json, t, s)[0] for s in SPLITS}
            comparison.append(
                {
                    "task": t,
                    "mine": mine,
                    "theirs": theirs,
                    "delta": {s: _delta(mine[s], theirs[s]) for s in SPLITS},
                }
            )
    return {
        "chart": submission_task_chart(rows) if rows else None,
        "baseline": baseline,
        "comparison": comparison,
    }
