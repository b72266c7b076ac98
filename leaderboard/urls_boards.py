"""Leaderboards, charts, exports, task downloads and method pages (included at the site root).

The checkpoint-only board lives at ``b/<benchmark>/~checkpoint-only/`` (docs/api.md)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, path

from datasets.bundle import RESERVED_MODALITY_SLUGS
from leaderboard.models.boards import CHECKPOINT_ONLY_SLUG
from leaderboard.views import boards, findings, methods, pages, phases

ONLY = {"checkpoint_only": True}

urlpatterns: list[URLPattern | URLResolver] = [
    path("b/<slug:benchmark>/", boards.board, name="board"),
    path("b/<slug:benchmark>/charts/", boards.board_charts, name="board_charts"),
    # before the modality routes, which would take "findings" for a modality's slug
    path("b/<slug:benchmark>/findings/", findings.findings_page, name="board_findings"),
    path("b/<slug:benchmark>/findings.json", findings.findings_json, name="board_findings_json"),
    path("b/<slug:benchmark>/phases/<slug:phase>/", phases.phase_detail, name="phase"),
    path("b/<slug:benchmark>/export.csv", boards.board_csv_view, name="board_csv"),
    path("b/<slug:benchmark>/export.json", boards.board_json_view, name="board_json"),
    # '~' never appears in a slug: no modality's board can have this URL
    path(
        f"b/<slug:benchmark>/{CHECKPOINT_ONLY_SLUG}/", boards.board, ONLY, name="board_checkpoint"
    ),
    path(
        f"b/<slug:benchmark>/{CHECKPOINT_ONLY_SLUG}/charts/",
        boards.board_charts,
        ONLY,
        name="board_checkpoint_charts",
    ),
    path(
        f"b/<slug:benchmark>/{CHECKPOINT_ONLY_SLUG}/export.csv",
        boards.board_csv_view,
        ONLY,
        name="board_checkpoint_csv",
    ),
    path(
        f"b/<slug:benchmark>/{CHECKPOINT_ONLY_SLUG}/export.json",
        boards.board_json_view,
        ONLY,
        name="board_checkpoint_json",
    ),
    path("b/<slug:benchmark>/<slug:modality>/", boards.board, name="board_modality"),
    path(
        "b/<slug:benchmark>/<slug:modality>/charts/",
        boards.board_charts,
        name="board_modality_charts",
    ),
    path(
        "b/<slug:benchmark>/<slug:modality>/export.csv",
        boards.board_csv_view,
        name="board_modality_csv",
    ),
    path(
        "b/<slug:benchmark>/<slug:modality>/export.json",
        boards.board_json_view,
        name="board_modality_json",
    ),
    path("tasks/<slug:slug>/download", pages.task_download, name="task_download"),
    path("tasks/<slug:slug>/sample.csv", pages.task_sample, name="task_sample"),
    path("methods/<str:family>/", methods.method_family, name="method"),
]


def fixed_segments(patterns: list[URLPattern | URLResolver]) -> set[str]:
    """The fixed first segments under ``b/<benchmark>/`` (file names by their stem): each must be
    a reserved modality slug, or a modality's board would be shadowed by, or shadow, the page."""
    prefix = "b/<slug:benchmark>/"
    out = set()
    for p in patterns:
        route = str(p.pattern)
        if route.startswith(prefix) and len(route) > len(prefix):
            segment = route[len(prefix) :].split("/")[0].split(".")[0]
            if not segment.startswith("<"):
                out.add(segment)
    return out


# '~' is outside the slug alphabet, so no modality can be named like the checkpoint-only board
_unreserved = fixed_segments(urlpatterns) - RESERVED_MODALITY_SLUGS - {CHECKPOINT_ONLY_SLUG}
if _unreserved:
    raise ImproperlyConfigured(
        f"add {sorted(_unreserved)} to datasets.bundle.RESERVED_MODALITY_SLUGS: a modality so "
        "named would clash with a board page"
    )
