from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from leaderboard.api.tokens import create_token
from leaderboard.models import Submission
from leaderboard.services.submissions import SubmissionRequest, create_submission
from leaderboard.tasks.evaluation import _score_predictions, run_evaluation
from tests.leaderboard.conftest import (  # noqa: F401 - fixtures shared with the pipeline tests
    alice,
    benchmark,
    bob,
    make_user,
    predictions,
    predictions_zip,
    staff_user,
)


@pytest.fixture(autouse=True)
def api_settings(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path / "var"
    settings.MEDVTAB_BOOTSTRAP_REPLICATES = 20
    settings.MEDVTAB_API_RATES = {"anon": "10000/min", "user": "10000/min", "upload": "10000/min"}
    cache.clear()  # throttle counters


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def token_client(user: Any, scope: str = "submit") -> APIClient:
    _, clear = create_token(user, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    return client


@pytest.fixture
def as_user() -> Callable[..., APIClient]:
    return token_client


def make_submission(
    owner: Any, bench: Any, root: Path, *, seed: int = 0, score: bool = True, **kw: Any
) -> Submission:
    """Create a submission through the service and (optionally) score it in this process."""
    sub = create_submission(
        SubmissionRequest(
            owner=owner,
            benchmark=bench,
            track="predictions",
            upload=SimpleUploadedFile("p.zip", predictions_zip(root, seed=seed)),
            method_name=kw.pop("method_name", f"method-{seed}"),
            **kw,
        )
    )
    if score:
        run_evaluation(sub.pk, _score_predictions)
        sub.refresh_from_db()
    return sub


@pytest.fixture
def submit_file(tiny_bundles: Path) -> Callable[..., dict[str, Any]]:
    """The multipart body of a valid upload."""
    import hashlib

    def make(variant: int = 0, **fields: Any) -> dict[str, Any]:
        payload = predictions_zip(tiny_bundles, seed=variant)
        body: dict[str, Any] = {
            "file": SimpleUploadedFile("preds.zip", payload, content_type="application/zip"),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "benchmark": "tiny-bench",
            "track": "predictions",
            "method_name": "api-method",
        }
        body.update(fields)
        return body

    return make
