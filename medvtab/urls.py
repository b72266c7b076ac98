from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/tokens/", include("leaderboard.urls_tokens")),
    path("accounts/", include("leaderboard.urls_accounts")),
    path("api/", include("leaderboard.api.urls")),
    path("", include("leaderboard.urls_boards")),
    path("", include("leaderboard.urls_health")),
    path("", include("leaderboard.urls")),
]
