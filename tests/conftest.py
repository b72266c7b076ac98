from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.factories import write_tiny_task

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_root(tmp_path: Path, settings: object) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    settings.MEDVTAB_DATA_ROOT = root  # type: ignore[attr-defined]
    return root


@pytest.fixture
def tiny_bundles(data_root: Path) -> Path:
    write_tiny_task(data_root, "tiny-cxr", modality="xray")
    write_tiny_task(
        data_root,
        "tiny-derm",
        modality="colour",
        channels=3,
        label_type="binary",
        classes=("benign", "malignant"),
    )
    write_tiny_task(
        data_root,
        "tiny-oct",
        modality="ct-oct",
        label_type="multilabel",
        classes=("fluid", "drusen", "scar"),
    )
    return data_root


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("MEDVTAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
