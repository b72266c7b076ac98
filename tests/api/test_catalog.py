"""Benchmarks, tasks, downloads and sample submissions; the leaderboard as the page shows it."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import RequestFactory

from datasets.bundle import TEST_SPLITS, load_split, read_meta
from evaluator.predictions import load_predictions
from leaderboard.models import ApiToken, LicenceAcceptance, Task
from leaderboard.services.boardquery import BoardFilters, load_board
from leaderboard.services.boards import recompute
from leaderboard.views.boards import board_context
from tests.api.conftest import make_submission

pytestmark = pytest.mark.django_db


def test_benchmarks(api: Any, benchmark: Any) -> None:
    listing = api.get("/api/v1/benchmarks/").json()
    assert [b["slug"] for b in listing] == ["tiny-bench"]
    detail = api.get("/api/v1/benchmarks/tiny-bench/").json()
    assert {m["slug"]: m["tasks"] for m in detail["modalities"]} == {
        "colour": ["tiny-derm"], "ct-oct": ["tiny-oct"], "xray": ["tiny-cxr"],
    }  # fmt: skip
    missing = api.get("/api/v1/benchmarks/nope/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_tasks_filtered(api: Any, benchmark: Any, tiny_bundles: Path) -> None:
    assert len(api.get("/api/v1/tasks/").json()) == 3
    xray = api.get("/api/v1/tasks/", {"benchmark": "tiny-bench", "modality": "xray"}).json()
    assert [t["slug"] for t in xray] == ["tiny-cxr"]
    assert api.get("/api/v1/tasks/", {"benchmark": "other"}).json() == []
    task = api.get("/api/v1/tasks/tiny-oct/").json()
    meta = read_meta(tiny_bundles, "tiny-bench", "tiny-oct")
    assert task["classes"] == list(meta.classes) and task["label_type"] == "multilabel"
    assert task["splits"]["test_ood"]["n_images"] == 12
    assert api.get("/api/v1/tasks/nope/").status_code == 404


def _accepted(api: Any, slug: str) -> dict[str, str]:
    return {"accept_license": api.get(f"/api/v1/tasks/{slug}/").json()["license"]}


def test_download_is_the_public_npz_with_its_checksum(
    api: Any, benchmark: Any, tiny_bundles: Path
) -> None:
    response = api.get("/api/v1/tasks/tiny-cxr/download", _accepted(api, "tiny-cxr"))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert response["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    meta = read_meta(tiny_bundles, "tiny-bench", "tiny-cxr")
    with np.load(io.BytesIO(body), allow_pickle=False) as npz:
        assert "test_id_labels" not in npz.files and "test_ood_patient_ids" not in npz.files
        train = load_split(tiny_bundles, meta, "train")
        assert np.array_equal(npz["train_labels"], train.labels)
        assert list(npz["test_ood_image_ids"]) == list(
            load_split(tiny_bundles, meta, "test_ood", images=False).image_ids
        )
    again = api.get("/api/v1/tasks/tiny-cxr/download", _accepted(api, "tiny-cxr"))
    assert again["X-Content-SHA256"] == response["X-Content-SHA256"]  # served from the cache
    assert api.get("/api/v1/tasks/nope/download").json()["code"] == "not_found"


@pytest.mark.parametrize("accepted", [None, "", "MIT", "cc0-1.0"])
def test_download_needs_the_licence_accepted_by_name(
    api: Any, benchmark: Any, accepted: str | None
) -> None:
    licence = api.get("/api/v1/tasks/tiny-cxr/").json()["license"]
    query = {} if accepted is None else {"accept_license": accepted}
    response = api.get("/api/v1/tasks/tiny-cxr/download", query)
    body = response.json()
    assert response.status_code == 403, body
    assert (body["code"], body["field"]) == ("license_not_accepted", "accept_license")
    assert f"accept_license={licence}" in body["detail"]
    assert not LicenceAcceptance.objects.exists()


def test_each_accepted_download_records_who_accepted_what(
    api: Any, alice: Any, benchmark: Any, as_user: Any
) -> None:
    task = Task.objects.get(slug="tiny-cxr")
    assert api.get("/api/v1/tasks/tiny-cxr/download", _accepted(api, "tiny-cxr")).status_code == 200
    client = as_user(alice, "read")
    assert client.get("/api/v1/tasks/tiny-cxr/download", _accepted(api, "tiny-cxr")).status_code == 200
    token = ApiToken.objects.get(user=alice)
    records = list(LicenceAcceptance.objects.order_by("accepted_at", "pk"))
    assert [(r.user, r.token, r.via) for r in records] == [
        (None, None, "api"), (alice, token, "api"),
    ]  # fmt: skip
    assert {(r.task, r.task_version, r.licence) for r in records} == {
        (task, task.version, task.license)
    }


def test_the_web_page_records_the_same_acceptance(
    client: Any, alice: Any, benchmark: Any
) -> None:
    task = Task.objects.get(slug="tiny-cxr")
    refused = client.post("/tasks/tiny-cxr/download", {})
    assert refused.status_code == 400 and not LicenceAcceptance.objects.exists()
    client.force_login(alice)
    response = client.post("/tasks/tiny-cxr/download", {"accept": "yes"})
    assert response.status_code == 200
    record = LicenceAcceptance.objects.get()
    assert (record.user, record.token, record.via) == (alice, None, "web")
    assert (record.task, record.task_version, record.licence) == (task, task.version, task.license)


def test_sample_submission_is_accepted_by_the_evaluator(
    api: Any, benchmark: Any, tiny_bundles: Path, tmp_path: Path
) -> None:
    text = api.get("/api/v1/tasks/tiny-derm/sample").content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["image_id", "benign", "malignant"] and len(rows) == 25
    path = tmp_path / "tiny-derm.csv"
    path.write_text(text)
    meta = read_meta(tiny_bundles, "tiny-bench", "tiny-derm")
    ids = np.concatenate(
        [load_split(tiny_bundles, meta, s, images=False).image_ids for s in TEST_SPLITS]
    )
    assert load_predictions(path, {"tiny-derm": meta}, {"tiny-derm": ids})["tiny-derm"].shape == (
        24,
        2,
    )


def test_leaderboard_matches_the_page(
    api: Any, alice: Any, bob: Any, benchmark: Any, tiny_bundles: Path
) -> None:
    for i, owner in enumerate((alice, bob, alice)):
        make_submission(owner, benchmark, tiny_bundles, seed=i, method_name=f"m{i}")
    recompute(benchmark)
    for query in ({}, {"split": "test_ood"}, {"modality": "xray"}, {"all": "1"}):
        board = api.get("/api/v1/leaderboards/tiny-bench/", query)
        assert board.status_code == 200, board.json()
        data = board.json()
        page_board = load_board("tiny-bench", query.get("modality"))
        assert page_board is not None
        params = {k: v for k, v in query.items() if k != "modality"}
        f = BoardFilters.parse(
            RequestFactory().get("/", params).GET,
            [t.slug for t in page_board.tasks],
            page_board.metrics,
        )
        context = board_context(page_board, f)
        expected = [(r["entry"].submission_id, r["rank"], r["tied"]) for r in context["rows"]]
        got = [(r["submission_id"], r["rank"], r["tied_with_leader"]) for r in data["results"]]
        assert got == expected and got
    assert api.get("/api/v1/leaderboards/nope/").status_code == 404
    assert api.get("/api/v1/leaderboards/tiny-bench/", {"modality": "nope"}).status_code == 404
    bad = api.get("/api/v1/leaderboards/tiny-bench/", {"page": "0"})
    assert bad.status_code == 400 and bad.json()["field"] == "page"
