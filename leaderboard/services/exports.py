"""Board exports (CSV and JSON, same filters as the page) and a task's public downloads."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpResponse

from datasets.bundle import read_meta
from datasets.export import export_public_npz, sample_submission_csv
from evaluator.scoring import benchmark_version
from leaderboard.models import Task
from leaderboard.services.boardquery import (
    Board,
    BoardFilters,
    filtered,
    is_reference,
    metric_for,
    ordered,
)

EXPORT_LIMIT = 50_000
# the mean over every task the entry entered, where the board averages fewer (else empty)
ALL_TASKS_COLUMNS = ["all_tasks.test_id", "all_tasks.test_ood"]
FORMULA_PREFIXES = ("=", "+", "-", "@")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe. Numbers we
    format ourselves are left alone (a negative OOD gap is a number, not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def current_version(board: Board) -> str:
    tasks = Task.objects.filter(benchmark=board.benchmark)
    return benchmark_version({t.slug: t for t in tasks})


def columns(board: Board, f: BoardFilters) -> list[str]:
    cols = ["rank", "tied_with_leader", "method", "participant", "baseline", "family"]
    cols += ["protocol", "track", "pretraining", "tunable_params", "params_verified", "complete"]
    for t in board.tasks:
        name = f"{t.slug}.{f.split}.{metric_for(t, f)}"
        cols += [name, f"{name}.ci_low", f"{name}.ci_high"]
    for split in ("test_id", "test_ood"):
        cols += [split, f"{split}.ci_low", f"{split}.ci_high"]
    # columns are only ever added at the end: scripts read them by position too
    cols += ["ood_gap", "submission_id", "benchmark_version", *ALL_TASKS_COLUMNS]
    return [*cols, "is_reference"]  # the server's reference row (never ranked)


def export_rows(board: Board, f: BoardFilters) -> list[list[Any]]:
    """Complete rows (the table, in its order), then incomplete ones (shown apart)."""
    base = ordered(filtered(board, f), board, f)
    version = current_version(board)
    out = []
    for complete in (True, False):
        for e in base.filter(complete=complete)[:EXPORT_LIMIT]:
            row: list[Any] = [
                e.rank(f.split, all_rows=f.show_all),
                e.tied_with_leader(f.split, all_rows=f.show_all),
            ]
            row += [e.method_name, e.owner_name, e.is_baseline, e.method_family, e.protocol]
            row += [e.track, e.pretraining, e.tunable_params, e.params_verified, e.complete]
            for t in board.tasks:
                v = (e.cells.get(t.slug, {}).get(f.split) or {}).get(metric_for(t, f))
                row += list(v or [None, None, None])
            row += [e.test_id, e.test_id_lo, e.test_id_hi, e.test_ood, e.test_ood_lo]
            row += [e.test_ood_hi, e.ood_gap, e.submission_id, version]
            row += [e.all_tasks_test_id, e.all_tasks_test_ood, is_reference(e)]
            out.append(row)
    return out


def board_csv(board: Board, f: BoardFilters) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns(board, f))
    for row in export_rows(board, f):
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return buffer.getvalue()


def board_json(board: Board, f: BoardFilters) -> dict[str, Any]:
    cols = columns(board, f)
    rows = export_rows(board, f)
    out = {
        "benchmark": board.benchmark.slug,
        "benchmark_version": current_version(board),
        "board": board.slug,
        "filters": f.params(page=1, ipage=1),
        "columns": cols,
        "rows": [dict(zip(cols, r, strict=True)) for r in rows],
    }
    ladder = board.ladder(f.protocol)
    if ladder is not None:  # only under the Ladder (docs/formats.md): the key is added, not changed
        out["ladder"] = ladder
    return out


def _meta(task: Task) -> Any:
    return read_meta(settings.MEDVTAB_DATA_ROOT, task.benchmark.slug, task.slug)


def public_download_response(task: Task) -> FileResponse:
    """The task's public ``.npz`` (train/val with labels, public test images), streamed from a
    temporary file that is deleted once sent. The caller checks the licence acceptance."""
    handle = tempfile.TemporaryFile(suffix=".npz")  # noqa: SIM115 - FileResponse closes it
    export_public_npz(settings.MEDVTAB_DATA_ROOT, _meta(task), handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{task.slug}-{task.version}.npz",
        content_type="application/octet-stream",
    )


def sample_submission_response(task: Task) -> HttpResponse:
    text = sample_submission_csv(settings.MEDVTAB_DATA_ROOT, _meta(task))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{task.slug}.csv"'
    return response


def class_counts(task: Task) -> dict[str, list[int]]:
    """Images per class in the public labelled splits (test labels are hidden, never read)."""
    import numpy as np

    from datasets.bundle import load_split

    meta = _meta(task)
    out: dict[str, list[int]] = {}
    for split in ("train", "val"):
        labels = np.asarray(
            load_split(settings.MEDVTAB_DATA_ROOT, meta, split, images=False).labels
        )
        if labels.ndim == 2:  # multilabel: positives per label
            out[split] = [int(v) for v in labels.sum(axis=0)]
        else:
            out[split] = [int((labels == k).sum()) for k in range(len(task.classes))]
    return out


def data_available(task: Task) -> bool:
    return (Path(settings.MEDVTAB_DATA_ROOT) / "public" / task.benchmark.slug / task.slug).is_dir()
