"""Who may see and act on a submission: one set of rules for the HTML views and the API."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from leaderboard.models import FINAL, Status, Submission

User: TypeAlias = AbstractBaseUser | AnonymousUser


def is_insider(sub: Submission, user: User) -> bool:
    """Owner or staff: may see the error, the user log and the actions."""
    return bool(getattr(user, "is_staff", False) or sub.owner_id == getattr(user, "pk", None))


def can_view(sub: Submission, user: User) -> bool:
    """Private or unfinished submissions exist only for their insiders."""
    return is_insider(sub, user) or (sub.is_public and sub.status == Status.SUCCEEDED)


def can_cancel(sub: Submission, user: User) -> bool:
    return is_insider(sub, user) and sub.status in (Status.PENDING, Status.QUEUED)


def can_rerun(sub: Submission, user: User) -> bool:
    """Staff may re-run any final submission; an owner only a failed one."""
    if getattr(user, "is_staff", False):
        return sub.status in FINAL
    return sub.owner_id == getattr(user, "pk", None) and sub.status == Status.FAILED
