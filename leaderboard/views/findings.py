"""The findings page of a benchmark (``/b/<benchmark>/findings/``) and its JSON export.

Both read one payload (findings and figures) cached like the charts page's: per catalogue
fingerprint, board token and normalised filters (``leaderboard.services.boardcache``).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from leaderboard.models.boards import SPLITS
from leaderboard.services import boardcache
from leaderboard.services.boardquery import Board, BoardFilters
from leaderboard.services.findings import page_payload


def findings_board(request: HttpRequest, benchmark: str) -> tuple[Board, BoardFilters]:
    """The overall board and the filters of the query string (the board page's parameters)."""
    found = boardcache.board_for(request, benchmark, None, False)
    if found is None:
        raise Http404("no such benchmark")
    board, protocol = found
    f = BoardFilters.parse(request.GET, [t.slug for t in board.tasks], board.metrics, protocol)
    return board, f


def payload_text(request: HttpRequest, board: Board, f: BoardFilters) -> str:
    # allow_nan=False: a NaN that slipped through would be invalid JSON, better an error in tests
    return boardcache.body(
        request,
        "findings",
        board,
        f.export_key(),
        lambda: json.dumps(page_payload(board, f), allow_nan=False),
    )


def findings_page(request: HttpRequest, benchmark: str) -> HttpResponse:
    board, f = findings_board(request, benchmark)
    payload: dict[str, Any] = json.loads(payload_text(request, board, f))
    data = payload["findings"]
    panels = [data[key] for key in ("scaling", "pretraining", "ood", "gmoe")]
    charts = payload["charts"]
    return render(
        request,
        "leaderboard/findings.html",
        {
            "board": board,
            "f": f,
            "findings": data,
            "panels": list(zip(panels, charts, strict=True)),
            "split_links": [(s, f.query(split=s)) for s in SPLITS],
            "board_url": reverse("board", args=[board.benchmark.slug]),
            "charts_url": reverse("board_charts", args=[board.benchmark.slug]),
            "json_url": reverse("board_findings_json", args=[board.benchmark.slug]),
        },
    )


def findings_json(request: HttpRequest, benchmark: str) -> HttpResponse:
    board, f = findings_board(request, benchmark)
    payload = json.loads(payload_text(request, board, f))
    return HttpResponse(json.dumps(payload["findings"]), content_type="application/json")
