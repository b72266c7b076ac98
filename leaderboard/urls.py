from __future__ import annotations

from django.urls import path

from leaderboard.views import pages, snapshots, submissions, teams

urlpatterns = [
    path("", pages.home, name="home"),
    path("tasks/<slug:slug>/", pages.task_detail, name="task"),
    path("submit/", submissions.submit, name="submit"),
    path("submissions/mine/", submissions.my_submissions, name="my_submissions"),
    path("submissions/<int:pk>/", submissions.submission_detail, name="submission"),
    path(
        "submissions/<int:pk>/status.json", submissions.submission_status, name="submission_status"
    ),
    path("submissions/<int:pk>/cancel", submissions.submission_cancel, name="submission_cancel"),
    path("submissions/<int:pk>/rerun", submissions.submission_rerun, name="submission_rerun"),
    # frozen boards: permanent, by id or slug, outside /b/<benchmark>/ (no modality can clash)
    path("snapshots/", snapshots.snapshot_list, name="snapshots"),
    path("snapshots/<str:key>/", snapshots.snapshot_detail, name="snapshot"),
    path("snapshots/<str:key>/export.csv", snapshots.snapshot_csv_view, name="snapshot_csv"),
    path("snapshots/<str:key>/export.json", snapshots.snapshot_json_view, name="snapshot_json"),
    path("teams/", teams.team_list, name="teams"),
    path("teams/new/", teams.team_create, name="team_create"),  # "new" is a reserved team slug
    path(
        "teams/invitations/<int:pk>/<str:answer>",
        teams.invitation_answer,
        name="invitation_answer",
    ),
    path("teams/<slug:slug>/", teams.team_detail, name="team"),
    path("teams/<slug:slug>/invite", teams.team_invite, name="team_invite"),
    path("teams/<slug:slug>/leave", teams.team_leave, name="team_leave"),
]
