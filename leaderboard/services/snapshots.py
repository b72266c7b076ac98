"""Freezing a board into a snapshot, and reading one back (pages, exports, API, citation).

A snapshot holds the rows the board's export gives under the chosen filters (the default view:
each team's best row per method; complete rows in rank order, then incomplete ones), with their
ranks, ties and CIs, the benchmark, evaluator and task versions. Everything a snapshot shows is
read from its own rows, so a later rescore, submission or recompute never changes it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.http import QueryDict
from django.utils import timezone
from django.utils.text import slugify

from evaluator import EVALUATOR_VERSION
from leaderboard.models import IN_FLIGHT, Benchmark, BoardState, Phase, Submission, Track
from leaderboard.models.boards import CHECKPOINT_ONLY_SLUG
from leaderboard.models.snapshots import FULL_PART, BoardSnapshot, SnapshotRow
from leaderboard.services.boardquery import (
    PROTOCOLS,
    SPLITS,
    TRACKS,
    Board,
    BoardFilters,
    load_board,
)
from leaderboard.services.boards import recompute
from leaderboard.services.exports import columns, current_version, export_rows, neutralise

TEAM_COLUMN = "team"  # after the board export's columns: the name the row is shown under


class SnapshotRefused(ValueError):
    """A board that cannot be frozen as asked (no such board, a filter outside its choices)."""


@dataclass(frozen=True)
class SnapshotRequest:
    benchmark: str
    modality: str | None = None  # a modality's slug, or ``~checkpoint-only``; None: overall
    protocol: str = "full"
    split: str = "test_id"
    track: str = ""
    title: str = ""
    created_by: str = ""

    def check(self) -> None:
        for name, value, allowed in (
            ("protocol", self.protocol, PROTOCOLS),
            ("split", self.split, SPLITS),
            ("track", self.track, ("", *TRACKS)),
        ):
            if value not in allowed:
                choices = ", ".join(a for a in allowed if a)
                raise SnapshotRefused(f"--{name} {value!r}: choose one of {choices}")


def _board(request: SnapshotRequest) -> Board:
    only = request.modality == CHECKPOINT_ONLY_SLUG
    modality = None if only else request.modality
    board = load_board(request.benchmark, modality, checkpoint_only=only)
    if board is None:
        what = f"board '{request.modality}' of " if request.modality else ""
        raise SnapshotRefused(f"no {what}benchmark '{request.benchmark}'")
    return board


def _filters(request: SnapshotRequest) -> BoardFilters:
    query = QueryDict(mutable=True)
    query.update({"protocol": request.protocol, "split": request.split, "track": request.track})
    return BoardFilters.parse(query, [], [], request.protocol)


def _unique_slug(base: str) -> str:
    slug, n = base, 1
    while BoardSnapshot.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _slug(board: Board, f: BoardFilters, phase: Phase | None, moment: datetime) -> str:
    parts = [board.benchmark.slug, phase.slug if phase else "", board.slug.lstrip("~")]
    parts += [f.protocol, f.split, f.track, moment.strftime("%Y%m%d-%H%M%S")]
    return _unique_slug(slugify("-".join(p for p in parts if p))[:150])


def _title(board: Board, f: BoardFilters, phase: Phase | None, moment: datetime) -> str:
    where = f"{phase.name}, " if phase else ""
    track = f", {f.track} track" if f.track else ""
    return f"{board.title} ({where}{f.protocol}, {f.split}{track}) as of {moment:%Y-%m-%d}"


def _row(position: int, values: dict[str, Any], team: str) -> SnapshotRow:
    return SnapshotRow(
        part=FULL_PART,
        position=position,
        submission_id=values["submission_id"],
        rank=values["rank"],
        tied_with_leader=bool(values["tied_with_leader"]),
        method_name=values["method"],
        participant=values["participant"],
        team=team,
        complete=bool(values["complete"]),
        is_reference=bool(values["is_reference"]),
        test_id=values["test_id"],
        test_ood=values["test_ood"],
        values={**values, TEAM_COLUMN: team},
    )


def _submissions(ids: list[int]) -> dict[int, tuple[str, str]]:
    """(team name, evaluator version) per submission, as the board shows them now."""
    found = Submission.objects.filter(pk__in=ids)
    fields = ("pk", "team__name", "owner__username", "evaluator_version")
    return {pk: (team or owner, ev or "") for pk, team, owner, ev in found.values_list(*fields)}


def _new_snapshot(
    request: SnapshotRequest,
    board: Board,
    f: BoardFilters,
    phase: Phase | None,
    evaluator_versions: set[str],
) -> BoardSnapshot:
    moment = timezone.now()
    state = BoardState.objects.filter(benchmark=board.benchmark).first()
    return BoardSnapshot(
        slug=_slug(board, f, phase, moment),
        title=request.title or _title(board, f, phase, moment),
        benchmark=board.benchmark,
        benchmark_slug=board.benchmark.slug,
        benchmark_name=board.benchmark.name,
        board=board.slug,
        board_name=board.name,
        phase=phase,
        phase_name=phase.name if phase else "",
        protocol=f.protocol,
        split=f.split,
        track=f.track,
        filters=f.params(page=1, ipage=1),
        benchmark_version=current_version(board),
        evaluator_version=EVALUATOR_VERSION,
        evaluator_versions=sorted(evaluator_versions - {""}),
        task_versions={t.slug: t.version for t in board.benchmark.tasks.order_by("slug")},
        tasks=[t.slug for t in board.tasks],
        columns=[*columns(board, f), TEAM_COLUMN],
        board_generation=state.generation if state else 0,
        created_at=moment,
        created_by=request.created_by,
    )


def freeze(request: SnapshotRequest, *, phase: Phase | None = None) -> BoardSnapshot:
    """Recompute the benchmark's boards (results may have landed since the last recompute), then
    write the board under the request's filters as one immutable snapshot."""
    request.check()
    recompute(_board(request).benchmark)
    board = _board(request)  # with the state the recompute wrote
    f = _filters(request)
    cols = columns(board, f)
    rows = [dict(zip(cols, r, strict=True)) for r in export_rows(board, f)]
    subs = _submissions([r["submission_id"] for r in rows])
    with transaction.atomic():
        snapshot = _new_snapshot(request, board, f, phase, {ev for _, ev in subs.values()})
        snapshot.save()
        frozen = [_row(i, r, subs.get(r["submission_id"], ("", ""))[0]) for i, r in enumerate(rows)]
        for row in frozen:
            row.snapshot = snapshot
        SnapshotRow.objects.bulk_create(frozen, batch_size=2000)
    return snapshot


# --- Closing a phase ----------------------------------------------------------------------------


def phase_requests(phase: Phase) -> list[SnapshotRequest]:
    """The boards a phase's close freezes: the overall board for each protocol it scores, and the
    checkpoint-only board too when it scores checkpoints and the benchmark has such tasks; on the
    one track it scores, when it scores one."""
    tracks = phase.accepted_tracks
    track = tracks[0] if len(tracks) == 1 else ""
    boards: list[str | None] = [None]
    only = phase.benchmark.tasks.filter(test_images_public=False).exists()
    if only and Track.CHECKPOINT in tracks:
        boards.append(CHECKPOINT_ONLY_SLUG)
    return [
        SnapshotRequest(
            phase.benchmark.slug, board, protocol=protocol, track=track, created_by="phase close"
        )
        for board in boards
        for protocol in phase.accepted_protocols
    ]


def _settled(phase: Phase) -> bool:
    """Whether every submission made before the close has a final status: a submission still
    being scored at the close belongs on the frozen board, so the freeze waits for it."""
    pending = Submission.objects.filter(
        benchmark=phase.benchmark, created__lt=phase.closes, status__in=IN_FLIGHT
    )
    return not pending.exists()


def freeze_phase(phase: Phase) -> int:
    """Freeze each board of a closed phase once; the number of snapshots written now. Safe to
    run any number of times, also concurrently (one snapshot per phase, board and protocol)."""
    made = 0
    for request in phase_requests(phase):
        board = request.modality or "overall"
        done = BoardSnapshot.objects.filter(phase=phase, board=board, protocol=request.protocol)
        if done.exists():
            continue
        try:
            freeze(request, phase=phase)
        except IntegrityError:
            continue  # another worker froze this board meanwhile
        made += 1
    return made


def freeze_closed_phases(now: datetime | None = None) -> int:
    """Freeze the boards of every phase that has closed and whose submissions are settled."""
    moment = now or timezone.now()
    made = 0
    for phase in Phase.objects.select_related("benchmark").filter(closes__lte=moment):
        if _settled(phase):
            made += freeze_phase(phase)
    return made


# --- Reading a snapshot -------------------------------------------------------------------------


def find(key: str) -> BoardSnapshot | None:
    """A snapshot by its id or its slug (both permanent)."""
    if key.isascii() and key.isdigit():
        return BoardSnapshot.objects.filter(pk=int(key)).first()
    return BoardSnapshot.objects.filter(slug=key).first()


def snapshot_path(snapshot: BoardSnapshot, suffix: str = "") -> str:
    return f"/snapshots/{snapshot.slug}/{suffix}"


def rows_of(snapshot: BoardSnapshot, part: str = FULL_PART) -> list[SnapshotRow]:
    return list(snapshot.rows.filter(part=part).order_by("position"))


def snapshot_meta(snapshot: BoardSnapshot, n_rows: int) -> dict[str, Any]:
    """What describes a snapshot, in the API and its JSON export (docs/api.md)."""
    return {
        "id": snapshot.pk,
        "slug": snapshot.slug,
        "title": snapshot.title,
        "url": snapshot_path(snapshot),
        "benchmark": snapshot.benchmark_slug,
        "benchmark_name": snapshot.benchmark_name,
        "board": snapshot.board,
        "board_name": snapshot.board_name,
        "phase": snapshot.phase.slug if snapshot.phase else None,
        "phase_name": snapshot.phase_name,
        "protocol": snapshot.protocol,
        "split": snapshot.split,
        "track": snapshot.track,
        "filters": snapshot.filters,
        "created_at": snapshot.created_at.isoformat(),
        "benchmark_version": snapshot.benchmark_version,
        "evaluator_version": snapshot.evaluator_version,
        "evaluator_versions": snapshot.evaluator_versions,
        "task_versions": snapshot.task_versions,
        "tasks": snapshot.tasks,
        "num_rows": n_rows,
        "exports": {
            "csv": snapshot_path(snapshot, "export.csv"),
            "json": snapshot_path(snapshot, "export.json"),
        },
    }


def _braces(text: str) -> str:
    return text.replace("{", "(").replace("}", ")")


def citation(snapshot: BoardSnapshot, url: str) -> str:
    """A BibTeX entry built from the snapshot's own fields (``url``: its absolute address)."""
    track = f", {snapshot.track} track" if snapshot.track else ""
    versions = ", ".join(snapshot.evaluator_versions) or snapshot.evaluator_version
    note = (
        f"Frozen leaderboard snapshot {snapshot.slug}: board {snapshot.board_name} of "
        f"{snapshot.benchmark_name} (benchmark version {snapshot.benchmark_version}), protocol "
        f"{snapshot.protocol}, split {snapshot.split}{track}; scored with evaluator {versions}"
    )
    fields = [
        ("title", snapshot.title),
        ("author", "Med-VTAB Leaderboard"),
        ("year", f"{snapshot.created_at:%Y}"),
        ("month", f"{snapshot.created_at:%b}".lower()),
        ("howpublished", f"\\url{{{url}}}"),
        ("note", note),
    ]
    body = ",\n".join(
        f"  {key} = {{{_braces(v) if key != 'howpublished' else v}}}" for key, v in fields
    )
    return f"@misc{{medvtab-snapshot-{snapshot.pk},\n{body}\n}}\n"


def snapshot_csv(snapshot: BoardSnapshot) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(snapshot.columns)
    for row in rows_of(snapshot):
        values = [row.values.get(c) for c in snapshot.columns]
        writer.writerow(["" if v is None else neutralise(v) for v in values])
    return buffer.getvalue()


def snapshot_json(snapshot: BoardSnapshot, url: str) -> dict[str, Any]:
    rows = rows_of(snapshot)
    return {
        "snapshot": snapshot_meta(snapshot, len(rows)),
        "citation": citation(snapshot, url),
        "columns": snapshot.columns,
        "rows": [{c: row.values.get(c) for c in snapshot.columns} for row in rows],
    }


def snapshot_json_text(snapshot: BoardSnapshot, url: str) -> str:
    return json.dumps(snapshot_json(snapshot, url), cls=DjangoJSONEncoder)


def list_snapshots(benchmark: Benchmark | None = None) -> list[tuple[BoardSnapshot, int]]:
    """Snapshots newest first, each with its number of rows (one query)."""
    qs = BoardSnapshot.objects.select_related("phase").annotate(n=Count("rows"))
    if benchmark is not None:
        qs = qs.filter(benchmark=benchmark)
    return [(s, s.n) for s in qs]
