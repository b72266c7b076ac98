"""Zip safety checks run before anything is extracted (stdlib only: cheap enough for the web tier).

Checks, in order: the archive's size, that it is a readable zip, the member count, then per member:
encryption, links, path traversal (absolute paths, ``..``, drive letters, backslashes), nested
archives, unknown suffixes, duplicate names, the compression ratio, and finally the declared total
uncompressed size. Members are later read with :func:`read_member`, which never returns more bytes
than the size the header declared, so a lying header cannot inflate memory either.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from evaluator.errors import SubmissionInvalid

NESTED_ARCHIVE_SUFFIXES = (
    ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".lz4", ".jar",
)
# Files operating systems add by themselves when zipping a folder; skipped rather than refused.
JUNK_PREFIXES = ("__MACOSX/",)
JUNK_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover - loop always returns


def is_junk(name: str) -> bool:
    return name.startswith(JUNK_PREFIXES) or PurePosixPath(name).name in JUNK_NAMES


def _is_link(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode) if mode else False


def _unsafe_path(name: str) -> bool:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return any(part == ".." for part in name.split("/"))


def _member_problem(
    info: zipfile.ZipInfo, allowed: tuple[str, ...], max_ratio: float
) -> str | None:
    name = info.filename
    lower = name.lower()
    if info.flag_bits & 0x1:
        return f"'{name}' is encrypted; submit an archive without a password"
    if _is_link(info):
        return f"'{name}' is a symbolic link; links are not allowed in a submission"
    if _unsafe_path(name):
        return f"'{name}' has an unsafe path (absolute, '..' or backslashes); use plain file names"
    if lower.endswith(NESTED_ARCHIVE_SUFFIXES) and not lower.endswith(allowed):
        return f"'{name}' is a nested archive; put the files themselves in the zip"
    if not lower.endswith(allowed):
        return (
            f"'{name}' is not an allowed file; the archive may only hold "
            f"{' or '.join('<task-slug>' + s for s in allowed)} files"
        )
    if info.compress_size > 0 and info.file_size / info.compress_size > max_ratio:
        ratio = info.file_size / info.compress_size
        return (
            f"'{name}' decompresses {ratio:.0f}× ({human_bytes(info.file_size)}); the limit is "
            f"{max_ratio:.0f}× — this looks like a zip bomb"
        )
    return None


def check_zip_safety(
    path: Path | str,
    *,
    max_bytes: int,
    max_members: int,
    max_ratio: float,
    allowed_suffixes: Iterable[str],
    max_uncompressed_bytes: int | None = None,
    display_name: str | None = None,
) -> list[zipfile.ZipInfo]:
    """Return the archive's file members (directories and OS junk skipped) or raise.

    ``max_bytes`` bounds the archive on disk; the declared uncompressed total is bounded by
    ``max_uncompressed_bytes`` (default: ``4 * max_bytes``). Raises :class:`SubmissionInvalid`
    listing every problem found.
    """
    path = Path(path)
    shown = display_name or path.name
    allowed = tuple(s.lower() for s in allowed_suffixes)
    size = path.stat().st_size
    if size > max_bytes:
        raise SubmissionInvalid(
            f"{shown} is {human_bytes(size)}; the limit is {human_bytes(max_bytes)}"
        )
    if not zipfile.is_zipfile(path):
        raise SubmissionInvalid(f"{shown} is not a zip archive")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SubmissionInvalid(f"{shown} is not a readable zip archive ({exc})") from None
    if len(infos) > max_members:
        raise SubmissionInvalid(
            f"{shown} holds {len(infos)} members; at most {max_members} are allowed"
        )
    problems: list[str] = []
    members: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    for info in infos:
        if info.is_dir() or is_junk(info.filename):
            if _unsafe_path(info.filename):
                problems.append(f"{shown}: '{info.filename}' has an unsafe path")
            continue
        problem = _member_problem(info, allowed, max_ratio)
        if problem is None and info.filename in seen:
            problem = f"'{info.filename}' appears twice in the archive"
        if problem:
            problems.append(f"{shown}: {problem}")
            continue
        seen.add(info.filename)
        members.append(info)
    total = sum(i.file_size for i in members)
    limit = max_uncompressed_bytes if max_uncompressed_bytes is not None else 4 * max_bytes
    if total > limit:
        problems.append(
            f"{shown} decompresses to {human_bytes(total)}; the limit is {human_bytes(limit)}"
        )
    if not problems and not members:
        problems.append(f"{shown} is empty; add {' or '.join('<task-slug>' + s for s in allowed)}")
    if problems:
        raise SubmissionInvalid(problems)
    return members


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    """Read one member, never more than its declared size (the CRC check catches lies)."""
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SubmissionInvalid(f"{where}: the file is corrupt in the archive ({exc})") from None
    except NotImplementedError as exc:
        raise SubmissionInvalid(f"{where}: unsupported compression ({exc})") from None
    if len(data) > info.file_size:
        raise SubmissionInvalid(f"{where}: the file is larger than its zip header says")
    return data


__all__ = ["check_zip_safety", "human_bytes", "is_junk", "read_member"]
