"""Create, enqueue, cancel, re-run and re-score submissions. The database is the source of truth;
the broker only ever carries a submission's primary key."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from leaderboard.models import (
    FINAL,
    Benchmark,
    Pretraining,
    Profile,
    Protocol,
    Status,
    Submission,
    Track,
)
from leaderboard.services.permissions import can_rerun
from leaderboard.services.quotas import check_quota
from leaderboard.services.uploads import (
    Chunked,
    UploadRefused,
    check_checkpoint_upload,
    check_extension,
    check_predictions_archive,
    spool,
)

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class QuotaExceeded(UploadRefused):
    def __init__(self, message: str, retry_after_s: int | None) -> None:
        super().__init__(message, field="file", code="quota_exceeded")
        self.retry_after_s = retry_after_s


@dataclass
class SubmissionRequest:
    owner: AbstractBaseUser
    benchmark: Benchmark
    track: str
    upload: Chunked
    protocol: str = Protocol.FULL
    method_name: str = ""
    method_family: str = ""
    backbones: dict[str, str] = field(default_factory=dict)
    pretraining: str = Pretraining.UNKNOWN
    reported_tunable_params: int | None = None
    seed: int | None = None
    description: str = ""
    paper_url: str = ""
    code_url: str = ""
    is_public: bool = True
    is_baseline: bool = False
    idempotency_key: str | None = None
    sha256: str | None = None


def clean_text(value: str, *, field_name: str, max_length: int, required: bool = False) -> str:
    """Strip control and bidirectional-override characters; bound the length."""
    cleaned = _CONTROL.sub("", value or "").strip()
    if required and not cleaned:
        raise UploadRefused(f"{field_name} is required", field=field_name)
    if len(cleaned) > max_length:
        raise UploadRefused(
            f"{field_name} is {len(cleaned)} characters long; the limit is {max_length}",
            field=field_name,
        )
    return cleaned


def _check_fields(req: SubmissionRequest) -> None:
    if req.track not in Track.values:
        raise UploadRefused(f"track must be one of {', '.join(Track.values)}", field="track")
    if req.protocol not in Protocol.values:
        raise UploadRefused(
            f"protocol must be one of {', '.join(Protocol.values)}", field="protocol"
        )
    if req.pretraining not in Pretraining.values:
        raise UploadRefused(
            f"pretraining must be one of {', '.join(Pretraining.values)}", field="pretraining"
        )
    if req.reported_tunable_params is not None and not 0 <= req.reported_tunable_params < 10**13:
        raise UploadRefused("tunable_params must be between 0 and 10^13", field="tunable_params")
    if req.seed is not None and not -(2**63) <= req.seed < 2**63:
        raise UploadRefused("seed must fit in 64 bits", field="seed")
    req.method_name = clean_text(req.method_name, field_name="method_name", max_length=100)
    req.method_family = clean_text(req.method_family, field_name="method_family", max_length=50)
    if "/" in req.method_family:  # the family is a URL path segment (/methods/<family>/)
        raise UploadRefused("method_family may not contain '/'", field="method_family")
    req.description = clean_text(req.description, field_name="description", max_length=5000)
    for name in ("paper_url", "code_url"):
        value = clean_text(getattr(req, name), field_name=name, max_length=200)
        if value and not re.match(r"^https?://[^\s<>\"']+$", value):
            raise UploadRefused(f"{name} must be an http(s) URL", field=name)
        setattr(req, name, value)
    if req.idempotency_key is not None:
        req.idempotency_key = (
            clean_text(req.idempotency_key, field_name="idempotency_key", max_length=100) or None
        )
    if (
        not isinstance(req.backbones, dict)
        or len(req.backbones) > 8
        or any(
            not isinstance(k, str) or not isinstance(v, str) or len(k) > 50 or len(v) > 100
            for k, v in req.backbones.items()
        )
    ):
        raise UploadRefused(
            "backbones must map up to 8 role names to backbone ids", field="backbones"
        )


def _existing(req: SubmissionRequest) -> Submission | None:
    if not req.idempotency_key:
        return None
    return Submission.objects.filter(owner=req.owner, idempotency_key=req.idempotency_key).first()


def create_submission(req: SubmissionRequest) -> Submission:
    """Validate cheaply, store the file, record the submission and enqueue it after commit.

    Raises :class:`UploadRefused` (or :class:`QuotaExceeded`) before anything is stored.
    A repeated idempotency key returns the submission it created the first time.
    """
    existing = _existing(req)
    if existing is not None:
        return existing
    _check_fields(req)
    check_extension(req.upload.name)
    path, size, digest = spool(req.upload)
    try:
        if req.sha256 and req.sha256.strip().lower() != digest:
            raise UploadRefused(
                f"sha256 mismatch: the server received a file with sha256 {digest}, not "
                f"{req.sha256.strip().lower()}; the upload was corrupted or the wrong file was sent",
                field="sha256",
            )
        facts = _cheap_checks(req, path)
        return _record(req, path, size, digest, facts)
    finally:
        path.unlink(missing_ok=True)


def _cheap_checks(req: SubmissionRequest, path: Path) -> dict[str, Any]:
    name = Path(req.upload.name).name
    if req.track == Track.PREDICTIONS:
        check_predictions_archive(path, req.benchmark, name)
        return {}
    facts = check_checkpoint_upload(path, req.benchmark)
    if facts.get("protocol") and facts["protocol"] != req.protocol:
        raise UploadRefused(
            f"manifest.json says protocol '{facts['protocol']}' but the submission says "
            f"'{req.protocol}'",
            field="protocol",
        )
    return facts


def _record(
    req: SubmissionRequest, path: Path, size: int, digest: str, facts: dict[str, Any]
) -> Submission:
    with transaction.atomic():
        # Serialise one user's submissions so that two parallel uploads cannot both pass the quota.
        Profile.objects.select_for_update().get_or_create(user=req.owner)
        existing = _existing(req)
        if existing is not None:
            return existing
        decision = check_quota(req.owner, req.benchmark, baseline=req.is_baseline)
        if not decision.allowed:
            raise QuotaExceeded(decision.message, decision.retry_after_s)
        submission = Submission(
            owner=req.owner,
            benchmark=req.benchmark,
            track=req.track,
            protocol=req.protocol,
            original_filename=clean_text(
                Path(req.upload.name).name, field_name="file name", max_length=255
            ),
            file_size=size,
            sha256=digest,
            idempotency_key=req.idempotency_key,
            method_name=req.method_name or str(facts.get("method") or "unnamed"),
            method_family=req.method_family or str(facts.get("family") or ""),
            backbones=facts.get("backbones") or req.backbones,
            pretraining=req.pretraining,
            reported_tunable_params=req.reported_tunable_params,
            seed=req.seed,
            description=req.description,
            paper_url=req.paper_url,
            code_url=req.code_url,
            is_public=req.is_public,
            is_baseline=req.is_baseline,
        )
        submission.append_log(f"{timezone.now():%Y-%m-%d %H:%M:%S} received {size} bytes")
        with path.open("rb") as handle:
            submission.file.save("upload.zip", File(handle), save=False)  # upload_path randomises
        submission.save()
        pk = submission.pk
        transaction.on_commit(lambda: enqueue(pk))
    return submission


def _task_for(track: str) -> Any:
    from leaderboard.tasks.evaluation import evaluate_checkpoint, evaluate_predictions

    return evaluate_checkpoint if track == Track.CHECKPOINT else evaluate_predictions


def enqueue(submission_id: int) -> bool:
    """Mark a submission queued and send its primary key to its queue.

    If the broker is unreachable the submission stays pending and the reaper sends it later.
    """
    with transaction.atomic():
        sub = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if sub is None or sub.status not in (Status.PENDING, Status.QUEUED):
            return False
        track = sub.track
    try:
        _task_for(track).apply_async(
            kwargs={"submission_id": submission_id},
            queue="gpu" if track == Track.CHECKPOINT else "cpu",
            task_id=f"submission-{submission_id}-{uuid.uuid4().hex[:12]}",
        )
    except Exception as exc:  # kombu raises several types when the broker is down
        log.warning("could not send submission %s to the broker: %s", submission_id, exc)
        return False
    now = timezone.now()
    Submission.objects.filter(pk=submission_id, status=Status.PENDING).update(
        status=Status.QUEUED, queued_at=now
    )
    return True


def cancel(submission: Submission, by: AbstractBaseUser) -> bool:
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=submission.pk)
        if sub.status not in (Status.PENDING, Status.QUEUED):
            return False
        sub.status = Status.CANCELLED
        sub.finished_at = timezone.now()
        sub.error = "Cancelled before it ran."
        sub.append_log(f"{sub.finished_at:%Y-%m-%d %H:%M:%S} cancelled by {by.get_username()}")
        sub.save()
    return True


def requeue(submission_id: int, *, note: str, reset_attempts: bool = False) -> bool:
    """Put a final submission back in the queue (re-run, rescore). Results are replaced when done."""
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=submission_id)
        if sub.status not in FINAL:
            return False
        sub.status = Status.PENDING
        sub.error = ""
        sub.finished_at = None
        sub.started_at = None
        sub.queued_at = None
        if reset_attempts:
            sub.attempts = 0
        sub.append_log(f"{timezone.now():%Y-%m-%d %H:%M:%S} {note}")
        sub.save()
        transaction.on_commit(lambda: enqueue(submission_id))
    return True


def rerun(submission: Submission, by: AbstractBaseUser) -> bool:
    if not can_rerun(submission, by):
        return False
    return requeue(
        submission.pk, note=f"re-run requested by {by.get_username()}", reset_attempts=True
    )
