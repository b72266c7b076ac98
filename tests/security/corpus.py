"""Shared pieces of the hostile-upload corpus: the case table's types and byte-level builders.

Every hostile file is generated here, in memory, at test time; no binary fixture is committed.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = "<script>alert(1)</script>"
UPLOAD = "upload"  # refused with a 4xx before anything is stored
WORKER = "worker"  # accepted, then failed by the worker with a user-facing error
BOTH = ("form", "api")


@dataclass
class Ctx:
    """What a builder may use: the data root (tiny bundles), the marker a payload would create,
    and the backbone id valid checkpoints name."""

    root: Path
    marker: Path
    backbone: str


@dataclass
class Upload:
    content: bytes
    name: str = "hostile.zip"
    content_type: str = "application/zip"
    fields: dict[str, str] = field(default_factory=dict)
    json_body: bool = False  # send the fields as a JSON body instead of multipart


@dataclass(frozen=True)
class Case:
    id: str
    track: str
    build: Callable[[Ctx], Upload]
    stage: str
    expect: str  # a regular expression searched (case-insensitively) in the message
    field: str | None = None  # the field the 4xx must name
    entries: tuple[str, ...] = BOTH
    status: int = 400


class Payload:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch '{self.marker}'",))


def zip_bytes(
    members: dict[str, bytes | str],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    modes: dict[str, int] | None = None,
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if modes and name in modes:
                info.create_system = 3  # unix, so that the mode bits are honoured
                info.external_attr = modes[name] << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def set_encrypted_flag(data: bytes) -> bytes:
    """Flip the 'encrypted' bit in every local and central header (zipfile will not write it)."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := out.find(signature, start)) >= 0:
            (flags,) = struct.unpack_from("<H", out, at + offset)
            struct.pack_into("<H", out, at + offset, flags | 0x1)
            start = at + 4
    return bytes(out)


def safetensors_bytes(
    header: dict[str, object], data: bytes, *, length: int | None = None
) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def f32_tensor(shape: list[int], offset: int = 0, dtype: str = "F32") -> dict[str, object]:
    size = {"F32": 4, "F64": 8, "I64": 8, "F16": 2}[dtype]
    numel = 1
    for dim in shape:
        numel *= dim
    return {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + numel * size]}


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()
