"""Give workers a local file for a stored upload, whatever the storage backend (disk or S3)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.db.models.fields.files import FieldFile


def _local_path(field: FieldFile) -> Path | None:
    try:
        return Path(field.path)
    except NotImplementedError:  # object storage has no local path
        return None


@contextlib.contextmanager
def local_copy(field: FieldFile) -> Iterator[Path]:
    # Only the path lookup is guarded: the caller's own errors (torch raises NotImplementedError
    # for a missing kernel) must pass through the yield untouched.
    path = _local_path(field)
    if path is not None:
        yield path  # local disk: no copy
        return
    with tempfile.TemporaryDirectory(prefix="submission-") as tmp:
        target = Path(tmp) / "upload.zip"
        with field.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield target
