"""local_copy: a local file for a stored upload, on disk or object storage, errors passed through."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage
from django.db.models import FileField
from django.db.models.fields.files import FieldFile

from leaderboard.services.storage import local_copy

PAYLOAD = b"PK\x05\x06" + b"\x00" * 18  # an empty zip archive


class ObjectStorage(Storage):
    """Like S3: files save and open, but there is no local path (Django's base ``path``)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def _save(self, name: str, content: File) -> str:
        self.blobs[name] = content.read()
        return name

    def _open(self, name: str, mode: str = "rb") -> File:
        return ContentFile(self.blobs[name], name=name)

    def exists(self, name: str) -> bool:
        return name in self.blobs


def _stored(storage: Storage) -> FieldFile:
    name = storage.save("submissions/upload.zip", ContentFile(PAYLOAD))
    return FieldFile(None, FileField(storage=storage), name)


def test_disk_storage_yields_the_file_itself(tmp_path: Path) -> None:
    field = _stored(FileSystemStorage(location=tmp_path))
    with local_copy(field) as path:
        assert path == Path(field.path)
        assert path.read_bytes() == PAYLOAD


def test_object_storage_yields_a_temporary_copy() -> None:
    field = _stored(ObjectStorage())
    with local_copy(field) as path:
        assert path.read_bytes() == PAYLOAD
    assert not path.exists()


@pytest.mark.parametrize("storage", ["disk", "object"])
def test_an_error_in_the_body_reaches_the_caller(storage: str, tmp_path: Path) -> None:
    # torch raises NotImplementedError for a kernel missing on the device
    backend = FileSystemStorage(location=tmp_path) if storage == "disk" else ObjectStorage()
    field = _stored(backend)
    with (
        pytest.raises(NotImplementedError, match="no kernel for this device"),
        local_copy(field) as path,
    ):
        raise NotImplementedError("no kernel for this device")
    assert path.exists() == (storage == "disk")  # the temporary copy is gone
