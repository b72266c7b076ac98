"""The hostile-upload corpus: every case × both entry points ends as a 4xx with a clear message or
as a failed submission with a clear error; never a 500, a traceback, a server path or a marker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from leaderboard.models import Status, Submission
from leaderboard.tasks.evaluation import GENERIC_ERROR
from tests.security.cases_checkpoints import CHECKPOINT_CASES
from tests.security.cases_fields import FIELD_CASES
from tests.security.cases_predictions import PREDICTIONS_CASES
from tests.security.corpus import SCRIPT, UPLOAD, WORKER, Case, Ctx
from tests.security.entry import SUBMIT, Outcome

pytestmark = pytest.mark.django_db
CASES = [*PREDICTIONS_CASES, *CHECKPOINT_CASES, *FIELD_CASES]
REPO = Path(__file__).resolve().parents[2]
ITEMS = [
    pytest.param(case, entry, id=f"{case.id}-{entry}") for case in CASES for entry in case.entries
]


def test_the_corpus_is_large_and_covers_both_tracks_and_entry_points() -> None:
    assert len(ITEMS) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
    for track in ("predictions", "checkpoint"):
        for stage in (UPLOAD, WORKER):
            assert any(c.track == track and c.stage == stage for c in CASES), (track, stage)


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _assert_clean(out: Outcome, ctx: Ctx, tmp_path: Path) -> None:
    assert out.status < 500, out.texts[0][:2000]
    for text in out.texts:
        assert "Traceback" not in text
        assert str(tmp_path) not in text and str(REPO) not in text  # no server paths
    for page in out.html:
        assert SCRIPT not in page  # echoed names are escaped
    assert not ctx.marker.exists(), "a pickle payload ran"
    assert not any((tmp_path / "spool").iterdir()), "an upload was left in the temporary folder"


@pytest.mark.parametrize(("case", "entry"), ITEMS)
def test_hostile_upload(
    case: Case, entry: str, ctx: Ctx, tmp_path: Path, request: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:  # fmt: skip
    client = request.getfixturevalue("api_client" if entry == "api" else "web_client")
    upload = case.build(ctx)
    out = SUBMIT[entry](client, upload, case.track, django_capture_on_commit_callbacks)
    _assert_clean(out, ctx, tmp_path)
    assert re.search(case.expect, out.message, re.IGNORECASE), (out.status, out.message[:2000])
    assert len(out.message) < 5000, "the message should stay readable"
    if case.stage == UPLOAD:
        assert out.submission is None, f"accepted: {out.message}"
        assert 400 <= out.status < 500 if case.status == 0 else out.status == case.status
        if case.field:
            assert case.field in out.fields_at_fault, out.fields_at_fault
        assert Submission.objects.count() == 0
        assert _files_under(Path(settings.MEDIA_ROOT)) == []
    else:
        assert out.submission is not None, f"refused at upload: {out.message}"
        out.submission.refresh_from_db()
        assert out.submission.status == Status.FAILED
        assert out.submission.error != GENERIC_ERROR, out.submission.staff_log[-3000:]
        assert "Traceback" not in out.submission.user_log
