"""The submission permission rules that the HTML views and the API share."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from leaderboard.models import Status, Submission
from leaderboard.services.permissions import can_cancel, can_rerun, can_view, is_insider

OWNER = User(pk=1, username="owner")
OTHER = User(pk=2, username="other")
STAFF = User(pk=3, username="staff", is_staff=True)
ANON = AnonymousUser()


def sub(status: str, *, public: bool = True) -> Submission:
    return Submission(owner_id=OWNER.pk, status=status, is_public=public)


@pytest.mark.parametrize(
    ("status", "public", "visible_to_others"),
    [
        (Status.SUCCEEDED, True, True),
        (Status.SUCCEEDED, False, False),
        (Status.FAILED, True, False),
        (Status.RUNNING, True, False),
    ],
)
def test_others_see_only_public_succeeded_submissions(
    status: str, public: bool, visible_to_others: bool
) -> None:
    s = sub(status, public=public)
    assert can_view(s, OTHER) is visible_to_others
    assert can_view(s, ANON) is visible_to_others
    assert can_view(s, OWNER) and can_view(s, STAFF)


def test_insiders_are_the_owner_and_staff() -> None:
    s = sub(Status.SUCCEEDED)
    assert is_insider(s, OWNER) and is_insider(s, STAFF)
    assert not is_insider(s, OTHER) and not is_insider(s, ANON)


@pytest.mark.parametrize("status", list(Status))
def test_cancel_only_waiting_submissions_by_insiders(status: str) -> None:
    waiting = status in (Status.PENDING, Status.QUEUED)
    s = sub(status)
    assert can_cancel(s, OWNER) is waiting and can_cancel(s, STAFF) is waiting
    assert not can_cancel(s, OTHER) and not can_cancel(s, ANON)


@pytest.mark.parametrize("status", list(Status))
def test_owner_reruns_failed_ones_staff_any_final_one(status: str) -> None:
    s = sub(status)
    assert can_rerun(s, OWNER) is (status == Status.FAILED)
    final = status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    assert can_rerun(s, STAFF) is final
    assert not can_rerun(s, OTHER) and not can_rerun(s, ANON)
