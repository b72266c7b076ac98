"""The findings page's data: the overall board's rows under the board's filters, turned into
``evaluator.findings`` entries (per-modality and overall scores and replicate vectors), and the
four plotly figures (docs/methods.md, "Findings page").

Three queries whatever the board's size: the modalities, the rows (at most ``MAX_ENTRIES``, best
first), and their replicate vectors.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np
from django.db.models import F

from evaluator.findings import (
    OVERALL,
    FindingEntry,
    Findings,
    Group,
    GroupScore,
    findings,
)
from leaderboard.models import Modality, ReplicateVector, Task
from leaderboard.models.boards import SPLITS
from leaderboard.services.boardquery import PRETRAININGS, PROTOCOLS, Board, BoardFilters, filtered
from leaderboard.services.charts import exclude_reference
from leaderboard.services.findings_charts import findings_charts
from leaderboard.services.results import decode_vector

MAX_ENTRIES = 1000  # best rows read (each brings its replicate vectors)
_SUFFIX = re.compile(r"\s*\(([^()]*)\)\s*$")
_CONFIG_WORDS = {*PRETRAININGS, *PROTOCOLS}


class FindingsJSON(Findings):
    """What the API and the JSON export return: the findings with the board they describe."""

    benchmark: str
    protocol: str
    filters: dict[str, str]


def method_and_config(name: str, methods: set[str]) -> tuple[str, str]:
    """The registered method (the name's first word, when it is one) and the config that pairs a
    medical entry with a general one: the name without the pre-training and protocol words of
    a trailing parenthesis, so ``lora r=4 (medical, 1k)`` and ``lora r=4 (general, 1k)`` pair."""
    words = name.split()
    first = words[0].lower() if words else ""
    method = first if first in methods else name
    config = name
    match = _SUFFIX.search(name)
    if match:
        kept = [p.strip() for p in match.group(1).split(",")]
        kept = [p for p in kept if p and p.lower() not in _CONFIG_WORDS]
        config = name[: match.start()] + (f" ({', '.join(kept)})" if kept else "")
    return method, " ".join(config.lower().split())


def _registered_methods() -> set[str]:
    from reference_models.specs import METHOD_SPECS  # torch-free

    return set(METHOD_SPECS)


def _groups(board: Board) -> tuple[list[Group], dict[str, list[Task]]]:
    """The modalities with tasks on the board, in board order, and the tasks of each group
    (``overall``: every task of the board)."""
    tasks_of: dict[int, list[Task]] = defaultdict(list)
    for t in board.tasks:
        tasks_of[t.modality_id].append(t)
    modalities = list(Modality.objects.filter(pk__in=list(tasks_of)).order_by("order", "slug"))
    by_slug = {OVERALL: list(board.tasks)} | {m.slug: tasks_of[m.pk] for m in modalities}
    return [Group(m.slug, m.name) for m in modalities], by_slug


def _vectors(ids: list[int], tasks: list[Task]) -> dict[int, dict[tuple[str, str], np.ndarray]]:
    rows = ReplicateVector.objects.filter(
        submission_id__in=ids, task_id__in=[t.pk for t in tasks]
    ).values_list("submission_id", "task__slug", "split", "values")
    out: dict[int, dict[tuple[str, str], np.ndarray]] = defaultdict(dict)
    for sub_id, slug, split, raw in rows.iterator(chunk_size=500):
        out[sub_id][(slug, split)] = decode_vector(raw)
    return out


def group_score(
    cells: dict[str, Any], vectors: dict[tuple[str, str], np.ndarray], tasks: list[Task], split: str
) -> GroupScore:
    """The mean primary metric over the tasks where it is defined (as the scorer aggregates),
    and the replicate-by-replicate mean of those tasks' vectors (None unless each has one)."""
    values, vecs = [], []
    for t in tasks:
        cell = (cells.get(t.slug, {}).get(split) or {}).get(t.primary_metric)
        if not cell or cell[0] is None:
            continue  # undefined on this split for every entry (it depends on the labels only)
        values.append(float(cell[0]))
        vecs.append(vectors.get((t.slug, split)))
    if not values:
        return GroupScore(None, None)
    usable = all(v is not None for v in vecs) and len({v.shape for v in vecs if v is not None}) == 1
    vector = np.vstack([v for v in vecs if v is not None]).mean(axis=0) if usable else None
    return GroupScore(float(np.mean(values)), vector)


def _entry(
    row: dict[str, Any],
    vectors: dict[tuple[str, str], np.ndarray],
    groups: dict[str, list[Task]],
    methods: set[str],
) -> FindingEntry:
    method, config = method_and_config(row["method_name"], methods)
    scores: dict[tuple[str, str], GroupScore] = {
        (slug, split): group_score(row["cells"], vectors, tasks, split)
        for slug, tasks in groups.items()
        for split in SPLITS
    }
    return FindingEntry(
        id=row["submission_id"],
        label=row["method_name"],
        method=method,
        family=row["method_family"],
        config=config,
        pretraining=row["pretraining"],
        protocol=row["protocol"],
        tunable_params=row["tunable_params"],
        scores=scores,
    )


FIELDS = ("submission_id", "method_name", "method_family", "pretraining", "protocol")


def board_findings(board: Board, f: BoardFilters) -> FindingsJSON:
    """The findings of the overall board's complete rows under the board's filters (protocol,
    split, track, family, pre-training, verified, all rows), reference rows left out."""
    qs = exclude_reference(filtered(board, f)).filter(complete=True)
    rows = list(
        qs.order_by(F(f.split).desc(nulls_last=True), "submission_id").values(
            *FIELDS, "tunable_params", "cells"
        )[:MAX_ENTRIES]
    )
    groups, by_slug = _groups(board)
    vectors = _vectors([r["submission_id"] for r in rows], board.tasks)
    methods = _registered_methods()
    entries = [_entry(r, vectors.get(r["submission_id"], {}), by_slug, methods) for r in rows]
    out = findings(entries, groups, f.split, synthetic=board.benchmark.synthetic)
    return {
        **out,
        "benchmark": board.benchmark.slug,
        "protocol": f.protocol,
        "filters": f.params(page=1, ipage=1),
    }


def page_payload(board: Board, f: BoardFilters) -> dict[str, Any]:
    """The findings and their figures, as the page and the exports cache them."""
    data = board_findings(board, f)
    return {"findings": data, "charts": findings_charts(data)}
