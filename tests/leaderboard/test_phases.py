"""Phases: validation, refusals before, between and after phases (with the next opening time),
tracks and protocols outside the open phase, nothing stored on refusal, quota overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leaderboard.models import Submission
from leaderboard.services import submissions as submissions_service
from leaderboard.services.phases import PhaseClosed, check_phase, open_phase, quota_limits
from leaderboard.services.submissions import QuotaExceeded, SubmissionRequest, create_submission
from tests.factories import make_phase

pytestmark = pytest.mark.django_db

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def challenge(benchmark: Any) -> dict[str, Any]:
    """Two phases with a gap: dev (predictions and checkpoints, 1k) then final (checkpoints)."""
    dev = make_phase(benchmark, "dev", T0, T0 + 10 * DAY, name="Development", protocols=["1k"])
    final = make_phase(
        benchmark, "final", T0 + 12 * DAY, T0 + 15 * DAY, name="Final",
        tracks=["checkpoint"], checkpoints_required=True,
    )  # fmt: skip
    return {"dev": dev, "final": final}


def _request(user: Any, benchmark: Any, upload: Any, **kw: Any) -> SubmissionRequest:
    return SubmissionRequest(
        owner=user, benchmark=benchmark, track=kw.pop("track", "predictions"), upload=upload,
        protocol=kw.pop("protocol", "1k"), method_name="m", **kw,
    )  # fmt: skip


def _stored(media: Path) -> list[Path]:
    folder = media / "submissions"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize(
    ("now", "next_slug"),
    [
        (T0 - DAY, "dev"),  # before the first phase
        (T0 + 11 * DAY, None),  # between: final takes checkpoints only, not predictions
        (T0 + 16 * DAY, None),  # after the last phase
    ],
)
def test_predictions_outside_an_open_phase_are_refused_with_the_next_opening(
    challenge: dict[str, Any], benchmark: Any, now: datetime, next_slug: str | None
) -> None:
    with pytest.raises(PhaseClosed) as info:
        check_phase(benchmark, "predictions", "1k", now=now)
    refusal = info.value
    assert refusal.code == "phase_closed" and refusal.field == "benchmark"
    assert refusal.phase is None
    if next_slug is None:
        assert refusal.next_opens is None and "No later phase" in refusal.message
    else:
        assert refusal.next_phase == challenge[next_slug]
        assert "opens at 2031-03-01 12:00 UTC" in refusal.message
        assert refusal.retry_after_s(now) == 24 * 3600 + 1


def test_between_phases_a_checkpoint_is_told_when_the_final_opens(
    challenge: dict[str, Any], benchmark: Any
) -> None:
    with pytest.raises(PhaseClosed) as info:
        check_phase(benchmark, "checkpoint", "full", now=T0 + 11 * DAY)
    assert info.value.next_phase == challenge["final"]
    assert "'Final', opens at 2031-03-13 12:00 UTC" in info.value.message


def test_an_open_phase_takes_its_tracks_and_protocols_only(
    challenge: dict[str, Any], benchmark: Any
) -> None:
    inside = T0 + DAY
    assert check_phase(benchmark, "predictions", "1k", now=inside) == challenge["dev"]
    assert check_phase(benchmark, "checkpoint", "1k", now=inside) == challenge["dev"]
    with pytest.raises(PhaseClosed) as info:
        check_phase(benchmark, "predictions", "full", now=inside)
    assert info.value.field == "protocol" and info.value.phase == challenge["dev"]
    assert "scores the 1k protocol only, not full" in info.value.message
    assert "No later phase" in info.value.message  # final takes no predictions
    final = T0 + 13 * DAY
    with pytest.raises(PhaseClosed) as info:
        check_phase(benchmark, "predictions", "full", now=final)
    assert info.value.field == "track" and "requires checkpoints" in info.value.message
    assert check_phase(benchmark, "checkpoint", "full", now=final) == challenge["final"]


def test_the_boundaries_open_inclusive_and_close_exclusive(
    challenge: dict[str, Any], benchmark: Any
) -> None:
    assert open_phase(benchmark, T0) == challenge["dev"]
    assert open_phase(benchmark, T0 - timedelta(seconds=1)) is None
    assert open_phase(benchmark, T0 + 10 * DAY) is None


def test_a_benchmark_without_phases_is_always_open(benchmark: Any) -> None:
    assert check_phase(benchmark, "predictions", "full", now=T0) is None
    assert quota_limits(benchmark, T0).scored == 5


def test_refusal_stores_and_spools_nothing(
    challenge: dict[str, Any],
    alice: Any,
    benchmark: Any,
    predictions: Any,
    media: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_spool(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the upload was spooled before the phase was checked")

    monkeypatch.setattr(submissions_service, "spool", no_spool)
    with pytest.raises(PhaseClosed):
        create_submission(_request(alice, benchmark, predictions(), now=T0 - DAY))
    assert _stored(media) == [] and Submission.objects.count() == 0


def test_a_submission_in_an_open_phase_is_stored(
    challenge: dict[str, Any], alice: Any, benchmark: Any, predictions: Any, media: Path
) -> None:
    sub = create_submission(_request(alice, benchmark, predictions(), now=T0 + DAY))
    assert sub.pk and [p.name for p in _stored(media)] == [Path(sub.file.name).name]


def test_baselines_are_scored_whatever_the_phase(
    challenge: dict[str, Any], alice: Any, benchmark: Any, predictions: Any
) -> None:
    sub = create_submission(
        _request(alice, benchmark, predictions(), now=T0 - DAY, is_baseline=True)
    )
    assert sub.pk


def test_quota_overrides_apply_while_the_phase_is_open(
    alice: Any, benchmark: Any, predictions: Any, settings: Any
) -> None:
    settings.MEDVTAB_QUOTA_SCORED = 5
    now = timezone.now()
    make_phase(benchmark, "sprint", now - DAY, now + DAY, quota_scored=1)
    limits = quota_limits(benchmark)
    assert (limits.scored, limits.attempts) == (1, settings.MEDVTAB_QUOTA_ATTEMPTS)
    create_submission(_request(alice, benchmark, predictions()))
    with pytest.raises(QuotaExceeded, match=r"limit 1\)"):
        create_submission(_request(alice, benchmark, predictions()))
    assert quota_limits(benchmark, now + 2 * DAY).scored == 5  # closed: the setting again


def test_phases_validate_dates_tracks_and_overlap(benchmark: Any) -> None:
    with pytest.raises(ValidationError, match="close after it opens"):
        make_phase(benchmark, "backwards", T0, T0 - DAY)
    with pytest.raises(ValidationError, match="unknown track"):
        make_phase(benchmark, "odd", T0, T0 + DAY, tracks=["videos"])
    with pytest.raises(ValidationError, match=r"protocols.*cannot be blank"):
        make_phase(benchmark, "none", T0, T0 + DAY, protocols=[])
    with pytest.raises(ValidationError, match="must accept the checkpoint track"):
        make_phase(
            benchmark, "ckpt", T0, T0 + DAY, tracks=["predictions"], checkpoints_required=True
        )
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        make_phase(benchmark, "zero", T0, T0 + DAY, quota_attempts=0)
    make_phase(benchmark, "one", T0, T0 + 2 * DAY)
    with pytest.raises(ValidationError, match="overlaps phase 'one'"):
        make_phase(benchmark, "two", T0 + DAY, T0 + 3 * DAY)
    make_phase(benchmark, "adjacent", T0 + 2 * DAY, T0 + 3 * DAY)  # touching is not overlapping
