"""Torch-free checks of checkpoint archives: zip safety, manifest, safetensors headers.

The web tier runs :func:`check_checkpoint_archive` at upload time; the GPU worker runs it again before
reading any tensor. Nothing here imports torch or allocates tensor data: a safetensors file is judged
by its 8-byte length prefix and JSON header alone.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from pathlib import Path
from typing import IO

from reference_models.manifest import (
    Limits,
    Manifest,
    TensorHeader,
    check_manifest,
    parse_manifest_bytes,
)
from reference_models.specs import CheckpointInvalid

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".npy", ".joblib")


def _read_exact(fp: IO[bytes], n: int, what: str) -> bytes:
    data = fp.read(n)
    if len(data) != n:
        raise CheckpointInvalid(f"{what}: file is truncated")
    return data


def read_safetensors_header(
    fp_or_bytes: IO[bytes] | bytes,
    *,
    max_header_bytes: int = Limits.max_header_bytes,
    file_size: int | None = None,
    allowed_dtypes: tuple[str, ...] | None = None,
    max_tensors: int = Limits.max_tensors_per_file,
    what: str = "safetensors file",
) -> TensorHeader:
    """Parse and check a safetensors header; returns ``{name: (dtype, shape)}``.

    Checks: the length prefix is within ``max_header_bytes``; the header is a JSON object of
    well-formed entries; each entry's byte range matches its dtype and shape; the ranges tile the
    data section exactly (and match ``file_size`` when it is known).
    """
    fp = io.BytesIO(fp_or_bytes) if isinstance(fp_or_bytes, bytes | bytearray) else fp_or_bytes
    if isinstance(fp_or_bytes, bytes | bytearray) and file_size is None:
        file_size = len(fp_or_bytes)
    (length,) = struct.unpack("<Q", _read_exact(fp, 8, what))
    if length > max_header_bytes:
        raise CheckpointInvalid(
            f"{what}: header of {length} bytes exceeds the limit of {max_header_bytes} "
            "(is it a safetensors file?)"
        )
    try:
        header = json.loads(_read_exact(fp, length, what).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointInvalid(f"{what}: not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointInvalid(f"{what}: safetensors header must be a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise CheckpointInvalid(f"{what}: __metadata__ must map strings to strings")
    if len(header) > max_tensors:
        raise CheckpointInvalid(f"{what}: more than {max_tensors} tensors")
    out: TensorHeader = {}
    ranges: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        dtype, shape, begin, end = _check_entry(name, entry, what)
        if allowed_dtypes is not None and dtype not in allowed_dtypes:
            raise CheckpointInvalid(
                f"{what}: tensor {name!r} has dtype {dtype}; allowed: {', '.join(allowed_dtypes)}"
            )
        out[name] = (dtype, shape)
        ranges.append((begin, end, name))
    data_size = _check_ranges(sorted(ranges), what)
    if file_size is not None and file_size != 8 + length + data_size:
        raise CheckpointInvalid(
            f"{what}: size {file_size} does not match its header ({8 + length + data_size} bytes)"
        )
    return out


def _check_entry(name: str, entry: object, what: str) -> tuple[str, tuple[int, ...], int, int]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointInvalid(f"{what}: malformed header entry for tensor {name!r}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_BYTES:
        raise CheckpointInvalid(f"{what}: tensor {name!r} has unknown dtype {dtype!r}")
    ints = isinstance(shape, list) and isinstance(offsets, list) and len(offsets) == 2
    if not ints or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in [*shape, *offsets]
    ):
        raise CheckpointInvalid(f"{what}: tensor {name!r} has a malformed shape or offsets")
    if len(shape) > 8:
        raise CheckpointInvalid(f"{what}: tensor {name!r} has too many dimensions")
    numel = 1
    for dim in shape:
        numel *= dim
    begin, end = offsets
    if end - begin != numel * DTYPE_BYTES[dtype]:
        raise CheckpointInvalid(f"{what}: tensor {name!r}: byte range does not match its shape")
    return dtype, tuple(shape), begin, end


def _check_ranges(ranges: list[tuple[int, int, str]], what: str) -> int:
    position = 0
    for begin, end, name in ranges:
        if begin != position:
            raise CheckpointInvalid(f"{what}: tensor {name!r} overlaps or leaves a gap in the data")
        position = end
    return position


def _check_members(zf: zipfile.ZipFile, limits: Limits, size: int) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise CheckpointInvalid(f"archive has {len(infos)} members; the limit is {limits.max_members}")
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name in members:
            raise CheckpointInvalid(f"archive member {name!r} appears twice")
        if "/" in name or "\\" in name or name.startswith(".") or ".." in name or ":" in name:
            raise CheckpointInvalid(
                f"archive member {name!r}: folders and path tricks are not allowed; "
                "put manifest.json and the .safetensors files at the top level"
            )
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode) or info.is_dir():
            raise CheckpointInvalid(f"archive member {name!r} is a link or a folder")
        if info.flag_bits & 0x1:
            raise CheckpointInvalid(f"archive member {name!r} is encrypted")
        if name.lower().endswith(PICKLE_SUFFIXES):
            raise CheckpointInvalid(
                f"archive member {name!r}: pickle-based files (.pt, .pth, .bin, .pkl ...) are "
                "refused; save the tensors with safetensors"
            )
        if info.file_size > limits.max_file_bytes:
            raise CheckpointInvalid(f"archive member {name!r} is larger than the limit")
        total += info.file_size
        members[name] = info
    if total > limits.max_total_bytes:
        raise CheckpointInvalid("archive contents are larger than the limit")
    if total > (1 << 20) and total > limits.max_compression_ratio * max(size, 1):
        raise CheckpointInvalid("archive compression ratio is suspiciously high")
    return members


def check_checkpoint_archive(
    path: Path | str,
    *,
    limits: Limits | None = None,
    known_tasks: dict[str, str] | None = None,
) -> Manifest:
    """Check a checkpoint ``.zip`` without extracting it or importing torch.

    Returns the manifest with ``headers`` (each task file's tensor names, dtypes and shapes).
    Raises :class:`CheckpointInvalid` with a message for the user.
    """
    limits = limits or Limits()
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_archive_bytes:
        raise CheckpointInvalid(f"archive is larger than {limits.max_archive_bytes} bytes")
    try:
        with zipfile.ZipFile(path) as zf:
            return _check_open_archive(zf, limits, size, known_tasks)
    except zipfile.BadZipFile as exc:
        raise CheckpointInvalid(f"not a valid zip archive ({exc})") from None


def _check_open_archive(
    zf: zipfile.ZipFile, limits: Limits, size: int, known_tasks: dict[str, str] | None
) -> Manifest:
    members = _check_members(zf, limits, size)
    if "manifest.json" not in members:
        raise CheckpointInvalid("archive has no manifest.json at its top level")
    if members["manifest.json"].file_size > limits.max_manifest_bytes:
        raise CheckpointInvalid(f"manifest.json is larger than {limits.max_manifest_bytes} bytes")
    with zf.open("manifest.json") as fp:
        raw = fp.read(limits.max_manifest_bytes + 1)
    manifest = check_manifest(parse_manifest_bytes(raw, limits=limits), known_tasks=known_tasks)
    expected = {"manifest.json", *(t.file for t in manifest.tasks.values())}
    extra = sorted(set(members) - expected)
    if extra:
        raise CheckpointInvalid(f"archive has unexpected member(s): {', '.join(extra)}")
    missing = sorted(expected - set(members))
    if missing:
        raise CheckpointInvalid(f"archive lacks file(s) named in manifest.json: {', '.join(missing)}")
    for slug, entry in manifest.tasks.items():
        info = members[entry.file]
        with zf.open(info) as fp:
            manifest.headers[slug] = read_safetensors_header(
                fp, max_header_bytes=limits.max_header_bytes, file_size=info.file_size,
                allowed_dtypes=limits.allowed_dtypes, max_tensors=limits.max_tensors_per_file,
                what=f"{entry.file} (task {slug})",
            )
    return manifest
