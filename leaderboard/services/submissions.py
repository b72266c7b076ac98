"""Create, enqueue, cancel, re-run and re-score submissions. The database is the source of truth;
the broker only ever carries a submission's primary key."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models.functions import Now

from leaderboard.models import (
    FINAL,
    Benchmark,
    Pretraining,
    Profile,
    Protocol,
    Status,
    Submission,
    Team,
    Track,
)
from leaderboard.services.permissions import can_rerun
from leaderboard.services.phases import check_phase
from leaderboard.services.quotas import check_quota
from leaderboard.services.teams import choose_team, enter
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


class StorageUnavailable(Exception):
    """The upload could not be written to the file storage (the object store is unreachable, the
    disk is full): the server's fault, not the file's. Nothing was kept, so the same request
    (with the same idempotency key) may simply be sent again."""

    message = (
        "the upload could not be stored: the file storage is unreachable right now. Nothing was "
        "kept; please try again in a minute (with the same idempotency key, if you use one)"
    )


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
    team: str | None = None  # a team's slug; None: the user's team on the benchmark
    now: datetime | None = None  # the moment the phases are checked at (tests pass one)


def clean_text(value: str) -> str:
    """Strip control and bidirectional-override characters (the model fields bound the length)."""
    return _CONTROL.sub("", value or "").strip()


# Request fields that the model names differently.
REQUEST_NAMES = {"reported_tunable_params": "tunable_params", "original_filename": "file"}
# Fields the model cannot check without queries (or before the file is stored).
NOT_VALIDATED = ["owner", "benchmark", "file"]


def validate(submission: Submission) -> None:
    """The model fields' own validators (lengths, ranges, URLs, choices): the one source of the
    limits the web form and the API also apply."""
    try:
        submission.full_clean(
            exclude=NOT_VALIDATED, validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        name, messages = next(iter(exc.message_dict.items()))
        field_name = REQUEST_NAMES.get(name, name)
        raise UploadRefused(f"{field_name}: {messages[0]}", field=field_name) from None


def _unsaved(req: SubmissionRequest) -> Submission:
    return Submission(
        owner=req.owner,
        benchmark=req.benchmark,
        track=req.track,
        protocol=req.protocol,
        original_filename=clean_text(Path(req.upload.name).name),
        idempotency_key=clean_text(req.idempotency_key or "") or None,
        method_name=clean_text(req.method_name) or "unnamed",
        method_family=clean_text(req.method_family),
        backbones=req.backbones or {},
        pretraining=req.pretraining,
        reported_tunable_params=req.reported_tunable_params,
        seed=req.seed,
        description=clean_text(req.description),
        paper_url=clean_text(req.paper_url),
        code_url=clean_text(req.code_url),
        is_public=req.is_public,
        is_baseline=req.is_baseline,
    )


def _existing(owner: AbstractBaseUser, key: str | None) -> Submission | None:
    if not key:
        return None
    return Submission.objects.filter(owner=owner, idempotency_key=key).first()


def create_submission(req: SubmissionRequest) -> Submission:
    """Validate cheaply, store the file, record the submission and enqueue it after commit.

    Raises :class:`UploadRefused` (or :class:`QuotaExceeded`) and then keeps nothing stored.
    A repeated idempotency key returns the submission it created the first time.
    """
    submission = _unsaved(req)
    existing = _existing(req.owner, submission.idempotency_key)
    if existing is not None:
        return existing
    # A closed phase refuses before anything is spooled or stored (docs/operations.md); the
    # server's own baselines are scored whatever the phase.
    if not req.is_baseline:
        check_phase(req.benchmark, req.track, req.protocol, now=req.now)
    validate(submission)
    team = choose_team(req.owner, req.benchmark, req.team)  # refused before anything is stored
    check_extension(req.upload.name)
    path, size, digest = spool(req.upload)
    try:
        if req.sha256 and req.sha256.strip().lower() != digest:
            raise UploadRefused(
                f"sha256 mismatch: the server received a file with sha256 {digest}, not "
                f"{req.sha256.strip().lower()}; the upload was corrupted or the wrong file was sent",
                field="sha256",
            )
        _apply_facts(submission, _cheap_checks(req, path), req)
        submission.file_size = size
        submission.sha256 = digest
        submission.append_log(f"{Submission.log_stamp()} received {size} bytes")
        # Stored before the quota lock is taken: a slow write (to S3, say) holds no row lock.
        with path.open("rb") as handle:
            try:
                submission.file.save("upload.zip", File(handle), save=False)  # upload_path randomises
            except Exception as exc:  # botocore, OSError …: whatever the storage backend raises
                log.warning("could not store an upload: %s", exc)
                raise StorageUnavailable(StorageUnavailable.message) from exc
    finally:
        path.unlink(missing_ok=True)
    try:
        return _record(submission, team)
    except BaseException:
        submission.file.delete(save=False)  # refused or rolled back: no orphaned object
        raise


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


def _apply_facts(submission: Submission, facts: dict[str, Any], req: SubmissionRequest) -> None:
    """A checkpoint's manifest names the method when the request does not."""
    if not clean_text(req.method_name) and facts.get("method"):
        submission.method_name = clean_text(str(facts["method"]))
    if not submission.method_family and facts.get("family"):
        submission.method_family = clean_text(str(facts["family"]))
    if facts.get("backbones"):
        submission.backbones = facts["backbones"]
    validate(submission)


def _record(submission: Submission, team: Team | None) -> Submission:
    """Check the quota and insert the row under the user's and the team's locks; the file is
    already stored."""
    with transaction.atomic():
        # Serialise one user's submissions so that two parallel uploads cannot both pass the quota.
        Profile.objects.select_for_update().get_or_create(user=submission.owner)
        existing = _existing(submission.owner, submission.idempotency_key)
        if existing is not None:
            submission.file.delete(save=False)  # a parallel retry of the same upload won
            return existing
        submission.team = enter(submission.owner, submission.benchmark, team)
        # ... and one team's: members share its quota, so they must not both pass it at once
        Team.objects.select_for_update().filter(pk=submission.team.pk).first()
        decision = check_quota(
            submission.owner,
            submission.benchmark,
            baseline=submission.is_baseline,
            team=submission.team,
        )
        if not decision.allowed:
            raise QuotaExceeded(decision.message, decision.retry_after_s)
        submission.save()
        pk = submission.pk
        transaction.on_commit(lambda: enqueue(pk))
    return submission


def _task_for(track: str, *, is_reference: bool = False) -> Any:
    from leaderboard.tasks.evaluation import evaluate_checkpoint, evaluate_predictions
    from leaderboard.tasks.reference import compute_pixel_reference

    if is_reference:  # no upload: the worker fits the reference itself (docs/methods.md)
        return compute_pixel_reference
    return evaluate_checkpoint if track == Track.CHECKPOINT else evaluate_predictions


def enqueue(submission_id: int) -> bool:
    """Mark a submission queued and send its primary key to its queue.

    If the broker is unreachable the submission stays pending and the reaper sends it later.
    """
    with transaction.atomic():
        sub = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if sub is None or sub.status not in (Status.PENDING, Status.QUEUED):
            return False
        track, is_reference = sub.track, sub.is_reference
    try:
        _task_for(track, is_reference=is_reference).apply_async(
            kwargs={"submission_id": submission_id},
            queue="gpu" if track == Track.CHECKPOINT else "cpu",
            task_id=f"submission-{submission_id}-{uuid.uuid4().hex[:12]}",
        )
    except Exception as exc:  # kombu raises several types when the broker is down
        log.warning("could not send submission %s to the broker: %s", submission_id, exc)
        return False
    # the database's clock, which the reaper compares with (web hosts' clocks may drift)
    Submission.objects.filter(pk=submission_id, status=Status.PENDING).update(
        status=Status.QUEUED, queued_at=Now()
    )
    return True


def cancel(submission: Submission, by: AbstractBaseUser) -> bool:
    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=submission.pk)
        if sub.status not in (Status.PENDING, Status.QUEUED):
            return False
        sub.status = Status.CANCELLED
        sub.finished_at = Now()
        sub.error = "Cancelled before it ran."
        sub.append_log(f"{Submission.log_stamp()} cancelled by {by.get_username()}")
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
        sub.append_log(f"{Submission.log_stamp()} {note}")
        sub.save()
        transaction.on_commit(lambda: enqueue(submission_id))
    return True


def rerun(submission: Submission, by: AbstractBaseUser) -> bool:
    if not can_rerun(submission, by):
        return False
    return requeue(
        submission.pk, note=f"re-run requested by {by.get_username()}", reset_attempts=True
    )
