"""The client's validator (stdlib only) agrees with the server's evaluator on what is valid."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasets.bundle import TEST_SPLITS, list_tasks, load_split
from evaluator.errors import SubmissionInvalid
from evaluator.predictions import load_predictions
from medvtab_client.npy import NpyError, read_npy
from medvtab_client.validate import validate_archive
from tests.leaderboard.conftest import predictions_zip


def _context(root: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    metas = {m.slug: m for m in list_tasks(root, "tiny-bench")}
    ids = {
        s: np.concatenate([load_split(root, m, sp, images=False).image_ids for sp in TEST_SPLITS])
        for s, m in metas.items()
    }
    api_tasks = {
        s: {"classes": list(m.classes), "label_type": m.label_type, "test_images_public": True}
        for s, m in metas.items()
    }
    return metas, api_tasks, ids


def _server_accepts(root: Path, data: bytes, tmp: Path) -> bool:
    metas, _, ids = _context(root)
    path = tmp / "sub.zip"
    path.write_bytes(data)
    try:
        load_predictions(path, metas, ids)
    except SubmissionInvalid:
        return False
    return True


def _client_accepts(root: Path, data: bytes) -> bool:
    _, api_tasks, ids = _context(root)
    return validate_archive(data, api_tasks, lambda s: [str(i) for i in ids[s]]).ok


def _replace(old: str, new: str, count: int = 1) -> Callable[[str, str], str]:
    return lambda slug, text: text.replace(old, new, count) if slug == "tiny-cxr" else text


def _drop_line(index: int) -> Callable[[str, str], str]:
    def corrupt(slug: str, text: str) -> str:
        lines = text.split("\n")
        return "\n".join(lines[:index] + lines[index + 1 :]) if slug == "tiny-cxr" else text

    return corrupt


def _dup_line(slug: str, text: str) -> str:
    lines = text.rstrip("\n").split("\n")
    return "\n".join([*lines, lines[1]]) + "\n" if slug == "tiny-derm" else text


def _swap_columns(slug: str, text: str) -> str:
    if slug != "tiny-oct":
        return text
    rows = [line.split(",") for line in text.rstrip("\n").split("\n")]
    return "\n".join(",".join([r[0], r[3], r[1], r[2]]) for r in rows) + "\n"


def _sum_off(slug: str, text: str) -> str:
    if slug != "tiny-cxr":
        return text
    lines = text.split("\n")
    cells = lines[1].split(",")
    cells[1] = "0.9"
    cells[2] = "0.9"
    lines[1] = ",".join(cells)
    return "\n".join(lines)


CORRUPTIONS: dict[str, Callable[[str, str], str] | None] = {
    "valid": None,
    "columns reordered (valid)": _swap_columns,
    "crlf line ends (valid)": lambda slug, text: text.replace("\n", "\r\n"),
    "missing row": _drop_line(3),
    "duplicated row": _dup_line,
    "unknown column": _replace("image_id,a,b,c", "image_id,a,b,x"),
    "no image_id column": _replace("image_id,", "id,"),
    "not a number": _replace(",0.", ",zero.", 1),
    "unknown image id": _replace("tiny-cxr-test_id-0000", "tiny-cxr-test_id-9999"),
    "rows not summing to 1": _sum_off,
    "negative value": _replace(",0.", ",-0.", 1),
    "semicolons": lambda slug, text: text.replace(",", ";"),
    "empty file": lambda slug, text: "" if slug == "tiny-cxr" else text,
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_client_and_server_agree_on_csv(name: str, tiny_bundles: Path, tmp_path: Path) -> None:
    data = predictions_zip(tiny_bundles, corrupt=CORRUPTIONS[name])
    server = _server_accepts(tiny_bundles, data, tmp_path)
    assert server == ("valid" in name)  # the corruption does what it says
    assert _client_accepts(tiny_bundles, data) == server


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npz_cases(root: Path) -> dict[str, bytes]:
    _, _, ids = _context(root)
    cxr = ids["tiny-cxr"]
    rng = np.random.default_rng(0)
    probs = rng.random((len(cxr), 3))
    probs /= probs.sum(1, keepdims=True)
    return {
        "valid float64": _npz(image_ids=cxr, probs=probs),
        "valid float32 fortran": _npz(
            image_ids=cxr, probs=np.asfortranarray(probs.astype(np.float32))
        ),
        "valid bytes ids": _npz(image_ids=cxr.astype("S"), probs=probs),
        "object array": _npz(image_ids=np.array(list(cxr), dtype=object), probs=probs),
        "wrong column count": _npz(image_ids=cxr, probs=probs[:, :2]),
        "extra array": _npz(image_ids=cxr, probs=probs, extra=probs),
        "missing image": _npz(image_ids=cxr[1:], probs=probs[1:]),
        "not summing": _npz(image_ids=cxr, probs=probs * 2),
    }


@pytest.mark.parametrize(
    "name",
    ["valid float64", "valid float32 fortran", "valid bytes ids", "object array",
     "wrong column count", "extra array", "missing image", "not summing"],
)  # fmt: skip
def test_client_and_server_agree_on_npz(name: str, tiny_bundles: Path, tmp_path: Path) -> None:
    data = _zip({"tiny-cxr.npz": _npz_cases(tiny_bundles)[name]})
    server = _server_accepts(tiny_bundles, data, tmp_path)
    assert server == name.startswith("valid")
    assert _client_accepts(tiny_bundles, data) == server


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ({"nope.csv": b"image_id\n"}, "unknown task"),
        ({"sub/tiny-cxr.csv": b"image_id\n"}, "top level"),
        ({"../tiny-cxr.csv": b"x"}, "unsafe"),
        ({"notes.txt": b"x"}, "not allowed"),
        ({}, "holds no"),
    ],
)
def test_structure_problems(members: dict[str, bytes], fragment: str, tiny_bundles: Path) -> None:
    _, api_tasks, ids = _context(tiny_bundles)
    report = validate_archive(_zip(members), api_tasks, lambda s: [str(i) for i in ids[s]])
    assert not report.ok and any(fragment in p for p in report.problems), report.problems


def test_missing_tasks_only_warn(tiny_bundles: Path) -> None:
    _, api_tasks, ids = _context(tiny_bundles)
    data = predictions_zip(tiny_bundles, tasks=["tiny-cxr"])
    report = validate_archive(data, api_tasks, lambda s: [str(i) for i in ids[s]])
    assert report.ok and report.checked == {"tiny-cxr": 24}
    assert "tiny-derm" in report.warnings[0] and "incomplete" in report.warnings[0]


def test_npy_reader_matches_numpy() -> None:
    for array in (np.arange(6, dtype="<i8").reshape(2, 3), np.array(["ab", "ünï"]),
                  np.linspace(0, 1, 6, dtype=">f4").reshape(3, 2)):  # fmt: skip
        buffer = io.BytesIO()
        np.save(buffer, array)
        shape, _, values = read_npy(buffer.getvalue())
        assert shape == array.shape and values == array.ravel().tolist()
    with pytest.raises(NpyError):
        read_npy(b"not an array")
