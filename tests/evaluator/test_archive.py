"""Zip safety: bombs, traversal, links, nested archives, unknown members, limits."""

from __future__ import annotations

import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest

from evaluator.archive import check_zip_safety
from evaluator.errors import SubmissionInvalid

LIMITS = dict(max_bytes=10_000_000, max_members=10, max_ratio=1000.0, allowed_suffixes=(".csv", ".npz"))


def make(tmp_path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return path


def problem(path: Path, **kw: object) -> str:
    with pytest.raises(SubmissionInvalid) as info:
        check_zip_safety(path, **{**LIMITS, **kw})  # type: ignore[arg-type]
    return "\n".join(info.value.messages)


def test_safe_archive_lists_its_members(tmp_path: Path) -> None:
    path = make(tmp_path, [("t.csv", b"image_id,a\n"), ("u.npz", b"x")])
    assert [i.filename for i in check_zip_safety(path, **LIMITS)] == ["t.csv", "u.npz"]


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = make(tmp_path, [("t.csv", b"0" * 20_000_000)])
    assert "looks like a zip bomb" in problem(path)


def test_declared_uncompressed_total_is_bounded(tmp_path: Path) -> None:
    path = make(tmp_path, [("t.csv", b"0,1\n" * 50_000)])
    assert "decompresses to" in problem(path, max_uncompressed_bytes=1000)


def test_path_traversal_is_refused(tmp_path: Path) -> None:
    path = make(tmp_path, [("../evil.csv", b"x")])
    assert "'../evil.csv' has an unsafe path" in problem(path)
    path = make(tmp_path, [("/etc/evil.csv", b"x")])
    assert "unsafe path" in problem(path)


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("t.csv")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = make(tmp_path, [(info, b"/etc/passwd")])
    assert "is a symbolic link" in problem(path)


def test_nested_archive_is_refused(tmp_path: Path) -> None:
    path = make(tmp_path, [("inner.zip", b"PK")])
    assert "'inner.zip' is a nested archive" in problem(path)


def test_unknown_member_is_refused(tmp_path: Path) -> None:
    path = make(tmp_path, [("readme.txt", b"hi")])
    assert "'readme.txt' is not an allowed file" in problem(path)


def test_too_many_members(tmp_path: Path) -> None:
    path = make(tmp_path, [(f"t{i}.csv", b"x") for i in range(11)])
    assert "holds 11 members; at most 10" in problem(path)


def test_archive_over_size_limit(tmp_path: Path) -> None:
    path = make(tmp_path, [("t.csv", os.urandom(5000))])
    assert "the limit is 1000 bytes" in problem(path, max_bytes=1000)


def test_empty_archive(tmp_path: Path) -> None:
    path = make(tmp_path, [])
    assert "is empty" in problem(path)


def test_archive_module_stays_cheap() -> None:
    import subprocess

    code = "import evaluator.archive, sys; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
