"""Give workers a local file for a stored upload, whatever the storage backend (disk or S3)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.db.models.fields.files import FieldFile


@contextlib.contextmanager
def local_copy(field: FieldFile) -> Iterator[Path]:
    try:
        yield Path(field.path)  # local disk: no copy
        return
    except NotImplementedError:  # object storage has no local path
        pass
    with tempfile.TemporaryDirectory(prefix="submission-") as tmp:
        target = Path(tmp) / "upload.zip"
        with field.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield target
