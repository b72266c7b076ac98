from __future__ import annotations

from django.urls import path

from leaderboard.views import pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("tasks/<slug:slug>/", pages.task_detail, name="task"),
]
