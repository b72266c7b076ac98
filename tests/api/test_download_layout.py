"""The cached task download follows the download layout: a layout change is never served stale."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import datasets.export
import leaderboard.api.downloads

pytestmark = pytest.mark.django_db


def _format(api: Any) -> tuple[str, str]:
    licence = api.get("/api/v1/tasks/tiny-cxr/").json()["license"]
    response = api.get("/api/v1/tasks/tiny-cxr/download", {"accept_license": licence})
    assert response.status_code == 200
    with np.load(io.BytesIO(b"".join(response.streaming_content)), allow_pickle=False) as npz:
        return str(npz["format"]), response["X-Content-SHA256"]


def test_a_new_download_layout_is_exported_afresh(api: Any, benchmark: Any, tiny_bundles: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first, first_sha = _format(api)
    assert first == datasets.export.NPZ_FORMAT
    for module in (datasets.export, leaderboard.api.downloads):
        monkeypatch.setattr(module, "NPZ_FORMAT", "medvtab-download/99")
    second, second_sha = _format(api)
    assert second == "medvtab-download/99" and second_sha != first_sha
