"""Leaderboards, charts, exports, task downloads and method pages (included at the site root).

The checkpoint-only board lives at ``b/<benchmark>/~checkpoint-only/`` (docs/api.md)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from leaderboard.models.boards import CHECKPOINT_ONLY_SLUG
from leaderboard.views import boards, methods, pages

ONLY = {"checkpoint_only": True}

urlpatterns: list[URLPattern | URLResolver] = [
    path("b/<slug:benchmark>/", boards.board, name="board"),
    path("b/<slug:benchmark>/charts/", boards.board_charts, name="board_charts"),
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
