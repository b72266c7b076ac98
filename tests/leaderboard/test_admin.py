"""Every admin page renders for staff, and the re-run action queues a failed submission again."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client

from leaderboard.models import Status, Submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client: Client, django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-123456789")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model", [m for m in admin.site._registry if m._meta.app_label == "leaderboard"]
)
def test_changelist_and_add_pages_render(admin_client_: Client, model: Any) -> None:
    meta = model._meta
    assert admin_client_.get(f"/admin/{meta.app_label}/{meta.model_name}/").status_code == 200


def test_rerun_action(admin_client_: Client, alice: Any, benchmark: Any) -> None:
    sub = Submission.objects.create(
        owner=alice,
        benchmark=benchmark,
        track="predictions",
        method_name="m",
        status=Status.FAILED,
        file="x.zip",
        error="boom",
    )
    page = admin_client_.get(f"/admin/leaderboard/submission/{sub.pk}/change/")
    assert page.status_code == 200 and "boom" in page.content.decode()
    response = admin_client_.post(
        "/admin/leaderboard/submission/",
        {"action": "rerun_selected", "_selected_action": [sub.pk]},
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.status in (Status.PENDING, Status.QUEUED) and sub.error == ""


def test_licence_acceptances_are_a_read_only_record(admin_client_: Client) -> None:
    assert admin_client_.get("/admin/leaderboard/licenceacceptance/").status_code == 200
    assert admin_client_.get("/admin/leaderboard/licenceacceptance/add/").status_code == 403
