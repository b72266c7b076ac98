"""Fixtures for the datasets tests: a valid tiny task, ``.npz`` and PNG-manifest writers."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets.bundle import SplitData, TaskMeta
from tests.datasets.helpers import make_meta, make_splits


@pytest.fixture
def meta() -> TaskMeta:
    return make_meta()


@pytest.fixture
def splits(meta: TaskMeta) -> dict[str, SplitData]:
    return make_splits(meta)


@pytest.fixture
def write_npz(tmp_path: Path) -> Callable[..., Path]:
    def write(arrays: dict[str, np.ndarray], name: str = "source.npz") -> Path:
        path = tmp_path / name
        np.savez(path, **arrays)  # type: ignore[arg-type]
        return path

    return write


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Write PNGs (distinct content) and a manifest CSV listing them."""

    def write(rows: list[dict[str, str]], *, header: list[str] | None = None,
              images: bool = True, size: int = 12, mode: str = "L") -> Path:
        folder = tmp_path / "images"
        folder.mkdir(exist_ok=True)
        rng = np.random.default_rng(len(rows))
        if images:
            for row in rows:
                shape = (size, size) if mode == "L" else (size, size, 3)
                pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
                Image.fromarray(pixels).save(folder / Path(row["path"]).name)
        path = tmp_path / "manifest.csv"
        columns = header or list(rows[0])
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write
