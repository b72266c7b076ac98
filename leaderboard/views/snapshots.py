"""Frozen board snapshots (``/snapshots/``): the list, a snapshot's page with its citation, and
its CSV and JSON exports. Every byte comes from the snapshot's own rows, so the page and exports
of a snapshot never change (leaderboard.services.snapshots)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from leaderboard.models import BoardSnapshot, SnapshotRow
from leaderboard.services.boardquery import cell
from leaderboard.services.snapshots import (
    citation,
    find,
    list_snapshots,
    rows_of,
    snapshot_csv,
    snapshot_json_text,
    snapshot_path,
)


def _found(key: str) -> BoardSnapshot:
    snapshot = find(key)
    if snapshot is None:
        raise Http404("no such snapshot")
    return snapshot


def permanent_url(request: HttpRequest, snapshot: BoardSnapshot) -> str:
    return request.build_absolute_uri(snapshot_path(snapshot))


def task_columns(snapshot: BoardSnapshot) -> list[tuple[str, str]]:
    """(task, export column of its shown metric) for each task column of the snapshot."""
    out = []
    for slug in snapshot.tasks:
        prefix = f"{slug}.{snapshot.split}."
        name = next((c for c in snapshot.columns if c.startswith(prefix) and c.count(".") == 2), "")
        out.append((slug, name))
    return out


def _row_view(row: SnapshotRow, tasks: list[tuple[str, str]], split: str) -> dict[str, Any]:
    v = row.values

    def triple(name: str) -> dict[str, Any]:
        return cell(v.get(name), v.get(f"{name}.ci_low"), v.get(f"{name}.ci_high"))

    return {
        "row": row,
        "tasks": [triple(name) if name else cell(None, None, None) for _, name in tasks],
        "mean": triple(split),
        "other": triple("test_ood" if split == "test_id" else "test_id"),
    }


def snapshot_list(request: HttpRequest) -> HttpResponse:
    return render(request, "leaderboard/snapshot_list.html", {"snapshots": list_snapshots()})


def snapshot_detail(request: HttpRequest, key: str) -> HttpResponse:
    snapshot = _found(key)
    tasks = task_columns(snapshot)
    views = [_row_view(r, tasks, snapshot.split) for r in rows_of(snapshot)]
    url = permanent_url(request, snapshot)
    context = {
        "snapshot": snapshot,
        "tasks": [slug for slug, _ in tasks],
        "rows": [v for v in views if v["row"].complete],
        "incomplete": [v for v in views if not v["row"].complete],
        "other_split": "test_ood" if snapshot.split == "test_id" else "test_id",
        "citation": citation(snapshot, url),
        "permanent_url": url,
        "csv_url": snapshot_path(snapshot, "export.csv"),
        "json_url": snapshot_path(snapshot, "export.json"),
    }
    return render(request, "leaderboard/snapshot.html", context)


def snapshot_csv_view(request: HttpRequest, key: str) -> HttpResponse:
    snapshot = _found(key)
    response = HttpResponse(snapshot_csv(snapshot), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{snapshot.slug}.csv"'
    return response


def snapshot_json_view(request: HttpRequest, key: str) -> HttpResponse:
    snapshot = _found(key)
    text = snapshot_json_text(snapshot, permanent_url(request, snapshot))
    return HttpResponse(text, content_type="application/json")
