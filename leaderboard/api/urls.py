"""REST API: v1 under /api/v1/, the OpenAPI schema at /api/schema/, interactive docs at /api/docs/
(Swagger UI) and /api/redoc/ (ReDoc)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from leaderboard.api import (
    findings,
    phases,
    views_boards,
    views_catalog,
    views_snapshots,
    views_submissions,
    views_teams,
)
from leaderboard.api.exceptions import error_body


def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Unknown API paths answer JSON too (clients never have to parse an HTML page)."""
    return JsonResponse(error_body("not_found", f"no API endpoint {request.path}"), status=404)


v1 = [
    path("benchmarks/", views_catalog.BenchmarkList.as_view(), name="api-benchmarks"),
    path("benchmarks/<str:slug>/", views_catalog.BenchmarkDetail.as_view(), name="api-benchmark"),
    path(
        "benchmarks/<str:slug>/phases/",
        phases.BenchmarkPhases.as_view(),
        name="api-benchmark-phases",
    ),
    path("tasks/", views_catalog.TaskList.as_view(), name="api-tasks"),
    path("tasks/<str:slug>/", views_catalog.TaskDetail.as_view(), name="api-task"),
    path("tasks/<str:slug>/download", views_catalog.TaskDownload.as_view(), name="api-download"),
    path("tasks/<str:slug>/sample", views_catalog.TaskSample.as_view(), name="api-sample"),
    path(
        "leaderboards/<str:benchmark>/",
        views_boards.Leaderboard.as_view(),
        name="api-leaderboard",
    ),
    path("snapshots/", views_snapshots.SnapshotList.as_view(), name="api-snapshots"),
    path("snapshots/<str:slug>/", views_snapshots.SnapshotDetail.as_view(), name="api-snapshot"),
    path("findings/<str:benchmark>/", findings.Findings.as_view(), name="api-findings"),
    path("teams/", views_teams.TeamCollection.as_view(), name="api-teams"),
    # before teams/<slug>/: the slug "invitations" is reserved (leaderboard.models.teams)
    path("teams/invitations/", views_teams.MyInvitations.as_view(), name="api-my-invitations"),
    path(
        "teams/invitations/<str:pk>/accept",
        views_teams.AcceptInvitation.as_view(),
        name="api-invitation-accept",
    ),
    path(
        "teams/invitations/<str:pk>/decline",
        views_teams.DeclineInvitation.as_view(),
        name="api-invitation-decline",
    ),
    path(
        "teams/invitations/<str:pk>/revoke",
        views_teams.RevokeInvitation.as_view(),
        name="api-invitation-revoke",
    ),
    path("teams/<str:slug>/", views_teams.TeamDetail.as_view(), name="api-team"),
    path(
        "teams/<str:slug>/invitations/",
        views_teams.TeamInvitations.as_view(),
        name="api-team-invitations",
    ),
    path("teams/<str:slug>/leave", views_teams.LeaveTeam.as_view(), name="api-team-leave"),
    path(
        "submissions/",
        views_submissions.SubmissionCollection.as_view(),
        name="api-submissions",
    ),
    path(
        "submissions/<str:pk>/",
        views_submissions.SubmissionDetail.as_view(),
        name="api-submission",
    ),
    path(
        "submissions/<str:pk>/cancel",
        views_submissions.SubmissionCancel.as_view(),
        name="api-submission-cancel",
    ),
    path(
        "submissions/<str:pk>/rerun",
        views_submissions.SubmissionRerun.as_view(),
        name="api-submission-rerun",
    ),
    path(
        "submissions/<str:pk>/log",
        views_submissions.SubmissionLog.as_view(),
        name="api-submission-log",
    ),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its initialising script apart (?script): no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    re_path(r"^(?P<rest>.*)$", not_found),
]
