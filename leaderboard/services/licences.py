"""A task's data licence is accepted before its public data is downloaded, on the web page (a
ticked box) or through the API (``accept_license`` naming the licence); both leave the same
record of who accepted what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from leaderboard.models import ApiToken, LicenceAcceptance, Task


def record_acceptance(
    task: Task,
    user: AbstractBaseUser | AnonymousUser,
    *,
    via: str,
    token: ApiToken | None = None,
) -> LicenceAcceptance:
    return LicenceAcceptance.objects.create(
        task=task,
        task_version=task.version,
        licence=task.license,
        user=user if user.is_authenticated else None,
        token=token,
        via=via,
    )


def api_refusal(task: Task, accepted: str | None) -> str | None:
    """Why an API download of this task is refused (None: the licence was accepted)."""
    if accepted is not None and accepted.strip() == task.license:
        return None
    said = f" ('{accepted}' is not it)" if accepted else ""
    return (
        f"the data of task '{task.slug}' (version {task.version}) is distributed under "
        f"'{task.license}'{said}; read the licence and accept it by sending "
        f"accept_license={task.license} (URL-encoded) with the download"
    )
