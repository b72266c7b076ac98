"""Cheap checks made at upload time in the web process (no torch, no scoring): size, extension,
archive safety, member names, checkpoint manifest and safetensors headers."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Protocol as TypingProtocol

from django.conf import settings

from evaluator.archive import check_zip_safety, is_junk
from evaluator.errors import SubmissionInvalid
from evaluator.limits import DEFAULT_LIMITS
from leaderboard.models import Benchmark


class UploadRefused(ValueError):
    """Refused before queueing (exit code 2). ``field`` names the form/API field at fault."""

    def __init__(self, message: str, *, field: str = "file", code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class Chunked(TypingProtocol):
    name: str

    def chunks(self) -> Iterable[bytes]: ...


def spool(upload: Chunked) -> tuple[Path, int, str]:
    """Stream an upload to a private temporary file, bounded by the size limit.

    Returns (path, size, sha256). The caller removes the file.
    """
    limit = settings.MEDVTAB_MAX_UPLOAD_BYTES
    digest = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(prefix="upload-", suffix=".zip", delete=False)  # noqa: SIM115
    path = Path(handle.name)
    try:
        with handle:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > limit:
                    raise UploadRefused(
                        f"the file is larger than the upload limit of {limit // 1024**2} MiB"
                    )
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size, digest.hexdigest()


def check_extension(name: str) -> None:
    if not name.lower().endswith(".zip"):
        raise UploadRefused(
            f"'{PurePosixPath(name).name}' is not a .zip archive; submit a .zip of per-task files "
            "(predictions) or a checkpoint archive with manifest.json"
        )


def check_predictions_archive(path: Path, benchmark: Benchmark, display_name: str) -> None:
    try:
        members = check_zip_safety(
            path,
            max_bytes=settings.MEDVTAB_MAX_UPLOAD_BYTES,
            max_members=DEFAULT_LIMITS.max_members,
            max_ratio=DEFAULT_LIMITS.max_ratio,
            allowed_suffixes=(".csv", ".npz"),
            max_uncompressed_bytes=DEFAULT_LIMITS.max_uncompressed_bytes,
            display_name=display_name,
        )
    except SubmissionInvalid as exc:
        raise UploadRefused("; ".join(exc.messages)) from None
    tasks = {t.slug: t for t in benchmark.tasks.all()}
    problems: list[str] = []
    names = [PurePosixPath(m.filename) for m in members if not is_junk(m.filename)]
    for name in names:
        slug = name.stem
        if slug not in tasks:
            problems.append(f"'{name}': no task '{slug}' in benchmark '{benchmark.slug}'")
        elif not tasks[slug].test_images_public:
            problems.append(
                f"'{name}': task '{slug}' keeps its test images hidden; it accepts checkpoint "
                "submissions only"
            )
    if not names:
        problems.append("the archive holds no <task-slug>.csv or .npz file")
    if problems:
        raise UploadRefused("; ".join(problems))


def check_checkpoint_upload(path: Path, benchmark: Benchmark) -> dict[str, object]:
    """Torch-free manifest and header check; returns facts recorded on the submission."""
    from reference_models.archive import check_checkpoint_archive  # torch-free module
    from reference_models.specs import CheckpointInvalid

    known = dict(benchmark.tasks.values_list("slug", "version"))
    try:
        manifest = check_checkpoint_archive(path, known_tasks=known)
    except CheckpointInvalid as exc:
        raise UploadRefused(str(exc)) from None
    if manifest.benchmark != benchmark.slug:
        raise UploadRefused(
            f"manifest.json names benchmark '{manifest.benchmark}', but this submission is to "
            f"'{benchmark.slug}'"
        )
    return {
        "method": manifest.method,
        "family": manifest.family,
        "backbones": dict(manifest.backbones),
        "protocol": manifest.protocol,
    }
