"""``manage.py submit``: the team it submits for, and refusals as exit code 2 with a message."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from leaderboard.models import Submission
from leaderboard.services.teams import accept, create_team, invite
from tests.leaderboard.conftest import make_user, predictions_zip
from tests.leaderboard.test_submissions import eager

pytestmark = pytest.mark.django_db
__all__ = ["eager"]


@pytest.fixture
def archive(tiny_bundles: Path, tmp_path: Path) -> Path:
    path = tmp_path / "preds.zip"
    path.write_bytes(predictions_zip(tiny_bundles))
    return path


def _submit(archive: Path, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    try:
        call_command(
            "submit", "--user", "ann", "--benchmark", "tiny-bench", "--track", "predictions",
            "--file", str(archive), *extra, stdout=io.StringIO(), stderr=err,
        )  # fmt: skip
    except SystemExit as exc:
        return int(exc.code or 0), err.getvalue()
    return 0, err.getvalue()


def test_the_team_flag_chooses_among_the_users_teams(benchmark: Any, archive: Path) -> None:
    ann, ben = make_user("ann"), make_user("ben")
    create_team(ann, "Lab A")
    lab_b = create_team(ben, "Lab B")
    accept(invite(lab_b, ben, "ann"), ann)
    code, _ = _submit(archive, "--team", lab_b.slug)
    assert code == 0
    assert Submission.objects.get().team == lab_b


def test_a_team_the_user_is_not_in_is_refused(benchmark: Any, archive: Path) -> None:
    make_user("ann")
    other = create_team(make_user("ben"), "Lab B")
    code, err = _submit(archive, "--team", other.slug)
    assert code == 2 and err.startswith("refused:"), err
    assert not Submission.objects.exists()


def test_an_unreachable_store_is_exit_2_and_keeps_nothing(
    benchmark: Any, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("ann")

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise OSError("connection refused")

    storage = Submission._meta.get_field("file").storage  # type: ignore[union-attr]
    monkeypatch.setattr(storage, "save", unreachable)
    code, err = _submit(archive)
    assert code == 2 and err.startswith("not stored:") and "try again" in err
    assert not Submission.objects.exists()
