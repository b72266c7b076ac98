"""Leaderboards, charts, exports, task downloads and method pages (included at the site root)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from leaderboard.views import boards, methods, pages

urlpatterns: list[URLPattern | URLResolver] = [
    path("b/<slug:benchmark>/", boards.board, name="board"),
    path("b/<slug:benchmark>/charts/", boards.board_charts, name="board_charts"),
    path("b/<slug:benchmark>/export.csv", boards.board_csv_view, name="board_csv"),
    path("b/<slug:benchmark>/export.json", boards.board_json_view, name="board_json"),
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
