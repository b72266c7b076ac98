"""Overall, per-modality and checkpoint-only boards, their charts and exports.

The board, its body, chart specs and exports are cached (``leaderboard.services.boardcache``)
per catalogue fingerprint, board state token, board and filter set; a recompute draws a new
token, so a landed result invalidates every cached page of its benchmark at once, and a token is
never drawn twice, so no cached page outlives the rows it was rendered from.
"""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from leaderboard.models.boards import SPLITS
from leaderboard.services import boardcache, charts
from leaderboard.services.boardhtml import rows_html
from leaderboard.services.boardquery import (
    PRETRAININGS,
    PROTOCOLS,
    TRACKS,
    Board,
    BoardFilters,
    filtered,
    ordered,
    page_of,
    row_view,
    shown_cells,
)
from leaderboard.services.exports import board_csv, board_json
from leaderboard.services.phases import board_phases


def _board(
    request: HttpRequest, benchmark: str, modality: str | None, checkpoint_only: bool = False
) -> tuple[Board, BoardFilters]:
    found = boardcache.board_for(request, benchmark, modality, checkpoint_only)
    if found is None:
        raise Http404("no such board")
    board, protocol = found
    f = BoardFilters.parse(request.GET, [t.slug for t in board.tasks], board.metrics, protocol)
    return board, f


def _headers(board: Board, f: BoardFilters) -> list[dict[str, object]]:
    """Sortable column headers: a link (keyboard-reachable) and the aria-sort state."""
    cols = [("rank", "Rank", "num"), ("method", "Method", "")]
    cols += [(f"task:{t.slug}", t.slug, "num") for t in board.tasks]
    mean = board.name
    cols += [("test_id", f"{mean} test_id", "num"), ("test_ood", f"{mean} test_ood", "num")]
    cols += [("ood_gap", "OOD gap", "num"), ("params", "Tunable params", "num")]
    out = []
    for key, label, css in cols:
        active = f.sort == key
        desc = not f.desc if active else key != "method"
        aria = ("descending" if f.desc else "ascending") if active else "none"
        out.append(
            {
                "key": key,
                "label": label,
                "css": css,
                "aria": aria,
                "href": f.query(sort=key, desc=desc, page=1, ipage=1),
                "task": key.startswith("task:"),
            }
        )
    return out


def board_context(board: Board, f: BoardFilters) -> dict[str, object]:
    qs = ordered(filtered(board, f), board, f).defer("cells")
    rows, page, pages = page_of(qs.filter(complete=True), f.page)
    inc, ipage, ipages = page_of(qs.filter(complete=False), f.ipage)
    cells = shown_cells(rows + inc, board, f)
    views = [row_view(e, board, f, cells) for e in rows]
    incomplete_views = [row_view(e, board, f, cells) for e in inc]
    return {
        "board": board,
        "f": f,
        "headers": _headers(board, f),
        "rows": views,
        "rows_html": rows_html(views),
        "incomplete": bool(inc),
        "incomplete_html": rows_html(incomplete_views),
        "page": page,
        "pages": pages,
        "prev": f.query(page=page - 1) if page > 1 else "",
        "next": f.query(page=page + 1) if page < pages else "",
        "ipage": ipage,
        "ipages": ipages,
        "iprev": f.query(ipage=ipage - 1) if ipage > 1 else "",
        "inext": f.query(ipage=ipage + 1) if ipage < ipages else "",
        "splits": SPLITS,
        "protocols": PROTOCOLS,
        "pretrainings": PRETRAININGS,
        "tracks": TRACKS,
        "families": board.state.facets.get("families", []),
        "metrics": board.metrics,
        "split_links": [(s, f.query(split=s, page=1, ipage=1)) for s in SPLITS],
        "query": f.query(page=1, ipage=1),
        "urls": board_urls(board),
    }


def board_urls(board: Board) -> dict[str, str]:
    """The board's page, charts and exports, and the checkpoint-only board's page when the
    benchmark has one and this is another board."""
    if board.checkpoint_only:
        prefix, args = "board_checkpoint", [board.benchmark.slug]
    elif board.modality is not None:
        prefix, args = "board_modality", [board.benchmark.slug, board.modality.slug]
    else:
        prefix, args = "board", [board.benchmark.slug]
    urls = {
        kind: reverse(f"{prefix}{suffix}", args=args)
        for kind, suffix in (
            ("page", ""),
            ("charts", "_charts"),
            ("csv", "_csv"),
            ("json", "_json"),
        )
    }
    if board.left_out:
        urls["checkpoint_only"] = reverse("board_checkpoint", args=[board.benchmark.slug])
    return urls


def board(
    request: HttpRequest, benchmark: str, modality: str | None = None, checkpoint_only: bool = False
) -> HttpResponse:
    b, f = _board(request, benchmark, modality, checkpoint_only)
    body = boardcache.body(
        request,
        "board",
        b,
        f.cache_key(),
        lambda: render_to_string("leaderboard/board_body.html", board_context(b, f)),
    )
    phases = board_phases(b.benchmark)  # outside the cached body: states change with the clock
    context = {"board": b, "body": body, "f": f, "phases": phases}
    return render(request, "leaderboard/board.html", context)


def board_charts(
    request: HttpRequest, benchmark: str, modality: str | None = None, checkpoint_only: bool = False
) -> HttpResponse:
    b, f = _board(request, benchmark, modality, checkpoint_only)
    specs = boardcache.body(
        request, "charts", b, f.cache_key(), lambda: json.dumps(charts.board_charts(b, f))
    )
    return render(
        request,
        "leaderboard/board_charts.html",
        {
            "board": b,
            "f": f,
            "charts": json.loads(specs),
            "split_links": _split_links(f),
            "urls": board_urls(b),
        },
    )


def _split_links(f: BoardFilters) -> list[tuple[str, str]]:
    return [(s, f.query(split=s)) for s in SPLITS]


def board_csv_view(
    request: HttpRequest, benchmark: str, modality: str | None = None, checkpoint_only: bool = False
) -> HttpResponse:
    b, f = _board(request, benchmark, modality, checkpoint_only)
    text = boardcache.body(request, "csv", b, f.export_key(), lambda: board_csv(b, f))
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{b.benchmark.slug}-{b.slug}.csv"'
    return response


def board_json_view(
    request: HttpRequest, benchmark: str, modality: str | None = None, checkpoint_only: bool = False
) -> HttpResponse:
    b, f = _board(request, benchmark, modality, checkpoint_only)
    # the same bytes as a JsonResponse of the export, encoded once per board state
    text = boardcache.body(
        request,
        "json",
        b,
        f.export_key(),
        lambda: json.dumps(board_json(b, f), cls=DjangoJSONEncoder),
    )
    return HttpResponse(text, content_type="application/json")
