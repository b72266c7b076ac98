"""The submission lifecycle in one process: eager Celery, the real scoring code."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from evaluator.scoring import score_predictions_file
from leaderboard.models import Aggregate, ReplicateVector, Result, Status, Submission
from leaderboard.serializers import SUBMISSION_JSON_KEYS, submission_json
from leaderboard.services.submissions import (
    QuotaExceeded,
    SubmissionRequest,
    cancel,
    create_submission,
    rerun,
)
from leaderboard.services.uploads import UploadRefused
from medvtab.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def eager(settings: Any, tmp_path: Path) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 50
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def submit(user: Any, benchmark: Any, upload: SimpleUploadedFile, **kw: Any) -> Submission:
    return create_submission(
        SubmissionRequest(
            owner=user,
            benchmark=benchmark,
            track=kw.pop("track", "predictions"),
            upload=upload,
            method_name=kw.pop("method_name", "my-method"),
            **kw,
        )
    )


def test_valid_predictions_succeed_with_the_clis_results(
    alice: Any, benchmark: Any, predictions: Callable[..., SimpleUploadedFile], tiny_bundles: Path
) -> None:
    sub = submit(alice, benchmark, predictions())
    sub.refresh_from_db()
    assert sub.status == Status.SUCCEEDED, sub.error + sub.staff_log
    expected = score_predictions_file(tiny_bundles, "tiny-bench", sub.file.path, bootstrap=50)
    assert sub.score_json == expected.json
    n_metrics = sum(
        len(entry[s]) for entry in expected.json["tasks"].values() for s in ("test_id", "test_ood")
    )
    assert Result.objects.filter(submission=sub).count() == n_metrics
    assert Aggregate.objects.filter(submission=sub, scope="overall").count() == 1
    assert ReplicateVector.objects.filter(submission=sub).count() == 6
    assert sub.attempts == 1 and sub.finished_at and sub.worker
    data = submission_json(sub)
    assert tuple(data) == SUBMISSION_JSON_KEYS
    assert data["results"] == expected.json and data["queue_position"] is None


def test_invalid_predictions_fail_with_the_validation_message(
    alice: Any, benchmark: Any, predictions: Callable[..., SimpleUploadedFile]
) -> None:
    def drop_row(slug: str, text: str) -> str:
        return "\n".join(text.splitlines()[:-1]) + "\n" if slug == "tiny-cxr" else text

    sub = submit(alice, benchmark, predictions(corrupt=drop_row))
    sub.refresh_from_db()
    assert sub.status == Status.FAILED
    assert "tiny-cxr.csv" in sub.error and "missing" in sub.error
    assert "Traceback" not in sub.error + sub.user_log
    assert not Result.objects.filter(submission=sub).exists()


def test_unexpected_errors_keep_the_traceback_for_staff(
    alice: Any,
    benchmark: Any,
    predictions: Callable[..., SimpleUploadedFile],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("leaderboard.tasks.evaluation.score_predictions_file", boom)
    sub = submit(alice, benchmark, predictions())
    sub.refresh_from_db()
    assert sub.status == Status.FAILED
    assert "internal error" in sub.error and "disk on fire" not in sub.error + sub.user_log
    assert "RuntimeError: disk on fire" in sub.staff_log


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("preds.csv", b"image_id,a\n", "is not a .zip archive"),
        ("preds.zip", b"not a zip at all", "zip"),
    ],
)
def test_cheap_checks_refuse_before_anything_is_stored(
    alice: Any, benchmark: Any, name: str, content: bytes, message: str
) -> None:
    with pytest.raises(UploadRefused, match=message):
        submit(alice, benchmark, SimpleUploadedFile(name, content))
    assert Submission.objects.count() == 0


def test_unknown_task_member_refused(alice: Any, benchmark: Any) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("not-a-task.csv", "image_id,a\n")
    with pytest.raises(UploadRefused, match="no task 'not-a-task' in benchmark 'tiny-bench'"):
        submit(alice, benchmark, SimpleUploadedFile("p.zip", buf.getvalue()))


def test_wrong_sha256_refused(alice: Any, benchmark: Any, predictions: Any) -> None:
    with pytest.raises(UploadRefused, match="sha256 mismatch") as info:
        submit(alice, benchmark, predictions(), sha256="0" * 64)
    assert info.value.field == "sha256"


def test_idempotency_key_yields_one_submission(
    alice: Any, benchmark: Any, predictions: Any
) -> None:
    first = submit(alice, benchmark, predictions(), idempotency_key="ci-run-42")
    second = submit(alice, benchmark, predictions(), idempotency_key="ci-run-42")
    assert first.pk == second.pk
    assert Submission.objects.count() == 1


def test_cancel_only_before_running(alice: Any, benchmark: Any, predictions: Any) -> None:
    app.conf.task_always_eager = False
    sub = Submission.objects.create(
        owner=alice,
        benchmark=benchmark,
        track="predictions",
        method_name="m",
        status=Status.QUEUED,
        file="x.zip",
    )
    assert cancel(sub, alice)
    sub.refresh_from_db()
    assert sub.status == Status.CANCELLED and sub.finished_at
    assert not cancel(sub, alice)


def test_rerun_rules(
    alice: Any, bob: Any, staff_user: Any, benchmark: Any, predictions: Any
) -> None:
    sub = submit(alice, benchmark, predictions(corrupt=lambda s, t: "garbage"))
    sub.refresh_from_db()
    assert sub.status == Status.FAILED
    assert not rerun(sub, bob)
    assert rerun(sub, alice)  # runs again (eagerly) and fails again
    sub.refresh_from_db()
    assert sub.status == Status.FAILED and sub.user_log.count("started") == 2
    good = submit(alice, benchmark, predictions())
    good.refresh_from_db()
    assert not rerun(good, alice)  # owners re-run failed ones only
    assert rerun(good, staff_user)
    good.refresh_from_db()
    assert good.status == Status.SUCCEEDED


def test_rescore_replaces_results_without_duplicates(
    alice: Any, benchmark: Any, predictions: Any, tiny_bundles: Path
) -> None:
    from django.core.management import call_command

    from leaderboard.services.registration import sync_benchmark
    from tests.factories import write_tiny_task

    sub = submit(alice, benchmark, predictions())
    sub.refresh_from_db()
    before = Result.objects.filter(submission=sub).count()
    call_command("rescore")  # nothing stale
    sub.refresh_from_db()
    assert sub.user_log.count("re-scoring") == 0
    write_tiny_task(tiny_bundles, "tiny-cxr", modality="xray", version="2")
    sync_benchmark(tiny_bundles, "tiny-bench")
    call_command("rescore")
    sub.refresh_from_db()
    assert sub.status == Status.SUCCEEDED
    assert sub.user_log.count("re-scoring") == 1
    assert sub.task_versions["tiny-cxr"] == "2"
    assert Result.objects.filter(submission=sub).count() == before


def test_quota_refuses_the_sixth_with_the_next_slot(
    alice: Any, benchmark: Any, predictions: Any, settings: Any
) -> None:
    for _ in range(5):
        submit(alice, benchmark, predictions())
    first = Submission.objects.order_by("created").first()
    with pytest.raises(QuotaExceeded) as info:
        submit(alice, benchmark, predictions())
    expected = (first.created + timezone.timedelta(hours=24)).strftime("%Y-%m-%d %H:%M UTC")
    assert expected in info.value.message
    assert info.value.retry_after_s and info.value.retry_after_s > 23 * 3600
    assert Submission.objects.count() == 5


def test_quota_counts_failures_as_attempts(
    alice: Any, benchmark: Any, predictions: Any, settings: Any
) -> None:
    settings.MEDVTAB_QUOTA_ATTEMPTS = 3
    for _ in range(3):
        submit(alice, benchmark, predictions(corrupt=lambda s, t: "garbage"))
    with pytest.raises(QuotaExceeded, match="attempts"):
        submit(alice, benchmark, predictions())


def test_quota_in_flight(alice: Any, benchmark: Any, predictions: Any) -> None:
    app.conf.task_always_eager = False
    for _ in range(2):
        Submission.objects.create(
            owner=alice,
            benchmark=benchmark,
            track="predictions",
            method_name="m",
            status=Status.QUEUED,
            file="x.zip",
        )
    with pytest.raises(QuotaExceeded, match="waiting or running"):
        submit(alice, benchmark, predictions())


def test_staff_and_baselines_are_exempt(
    staff_user: Any, alice: Any, benchmark: Any, predictions: Any, settings: Any
) -> None:
    settings.MEDVTAB_QUOTA_SCORED = 1
    for _ in range(2):
        submit(staff_user, benchmark, predictions())
        submit(alice, benchmark, predictions(), is_baseline=True)
    assert Submission.objects.count() == 4


def _stored_uploads(settings: Any) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "submissions"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_upload_is_stored_outside_the_quota_lock(
    alice: Any, benchmark: Any, predictions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing up to 512 MiB (to S3, say) must not hold the quota's row lock."""
    from django.core.files.storage import FileSystemStorage
    from django.db import connection

    in_transaction: list[bool] = []
    original = FileSystemStorage._save

    def watched(self: FileSystemStorage, name: str, content: Any, **kw: Any) -> str:
        in_transaction.append(connection.in_atomic_block)
        return original(self, name, content, **kw)

    monkeypatch.setattr(FileSystemStorage, "_save", watched)
    submit(alice, benchmark, predictions())
    assert in_transaction == [False]


def test_quota_refusal_deletes_the_stored_upload(
    alice: Any, benchmark: Any, predictions: Any, settings: Any
) -> None:
    settings.MEDVTAB_QUOTA_ATTEMPTS = 1
    kept = submit(alice, benchmark, predictions())
    with pytest.raises(QuotaExceeded):
        submit(alice, benchmark, predictions())
    assert [p.name for p in _stored_uploads(settings)] == [Path(kept.file.name).name]


def test_a_failed_insert_leaves_no_stored_object(
    alice: Any, benchmark: Any, predictions: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import DatabaseError

    def refuse(self: Submission, *args: Any, **kwargs: Any) -> None:
        raise DatabaseError("the insert failed")

    monkeypatch.setattr(Submission, "save", refuse)
    with pytest.raises(DatabaseError):
        submit(alice, benchmark, predictions())
    assert _stored_uploads(settings) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"method_name": "m" * 101}, "method_name", "at most 100 characters"),
        ({"method_family": "a/b"}, "method_family", "'/'"),
        ({"description": "d" * 5001}, "description", "at most 5000 characters"),
        ({"paper_url": "ftp://example.org/paper"}, "paper_url", "http(s) URL"),
        ({"code_url": "javascript:alert(1)"}, "code_url", "Enter a valid"),
        ({"seed": 2**63}, "seed", "less than or equal to"),
        ({"reported_tunable_params": -1}, "tunable_params", "greater than or equal to 0"),
        ({"reported_tunable_params": 10**13 + 1}, "tunable_params", "less than or equal to"),
        ({"backbones": {f"r{i}": "vit" for i in range(9)}}, "backbones", "up to 8"),
        ({"track": "video"}, "track", "not a valid choice"),
        ({"pretraining": "alien"}, "pretraining", "not a valid choice"),
    ],
)
def test_the_model_fields_limits_apply_to_every_caller(
    alice: Any, benchmark: Any, predictions: Any, fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(UploadRefused, match=re.escape(message)) as info:
        submit(alice, benchmark, predictions(), **fields)
    assert info.value.field == field
    assert Submission.objects.count() == 0


def test_limits_are_inclusive_and_control_characters_are_stripped(
    alice: Any, benchmark: Any, predictions: Any
) -> None:
    sub = submit(
        alice,
        benchmark,
        predictions(),
        method_name="m" * 99 + "\u202e",
        seed=2**63 - 1,
        reported_tunable_params=10**13,
        paper_url="https://example.org/paper",
    )
    assert sub.method_name == "m" * 99 and sub.seed == 2**63 - 1
    assert sub.reported_tunable_params == 10**13
