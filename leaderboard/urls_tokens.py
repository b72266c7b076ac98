"""The API tokens page, mounted under /accounts/tokens/ by medvtab/urls.py."""

from __future__ import annotations

from django.urls import path

from leaderboard.views import tokens as views

urlpatterns = [
    path("", views.tokens, name="api_tokens"),
    path("<int:pk>/revoke", views.revoke_token, name="api_token_revoke"),
]
