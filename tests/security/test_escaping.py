"""HTML/JS and spreadsheet formulas in method names, families, descriptions and user names are
escaped on every page and neutralised in CSV exports; bidi and zero-width characters are stripped."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from leaderboard.api.tokens import create_token
from leaderboard.models import Benchmark, Status, Submission
from leaderboard.services.boards import recompute
from tests.leaderboard.conftest import predictions_zip
from tests.security.conftest import participant
from tests.security.corpus import SCRIPT
from tests.security.entry import API_URL

pytestmark = pytest.mark.django_db
IMG = "<img src=x onerror=alert(2)>"
FORMULA_NAME = '=HYPERLINK("http://x","click")'
FORMULA_FAMILY = "+cmd|' -C calc'!A0"
FORMULA_USER = "@SUM+1"  # Django user names may start with @, + and -
FORMULA_PREFIXES = ("=", "+", "-", "@")


def _api_submit(client: APIClient, root: Path, seed: int, capture: Any, **fields: str) -> int:
    payload = predictions_zip(root, seed=seed)
    data = {"benchmark": "tiny-bench", "track": "predictions", **fields}
    with capture(execute=True):
        resp = client.post(
            API_URL, {**data, "file": SimpleUploadedFile("p.zip", payload)}, format="multipart"
        )
    assert resp.status_code == 201, resp.content
    return int(resp.json()["id"])


@pytest.fixture
def hostile_board(
    benchmark: Benchmark, tiny_bundles: Path, django_capture_on_commit_callbacks: Any
) -> dict[str, Any]:
    """Three scored public submissions whose texts are hostile, and the boards recomputed."""
    user = participant(FORMULA_USER)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {create_token(user, scope='submit')[1]}")
    capture = django_capture_on_commit_callbacks
    html_id = _api_submit(
        api, tiny_bundles, 1, capture, method_name=SCRIPT, method_family="lora",
        description=f"{SCRIPT} {IMG} <a href='javascript:alert(3)'>x</a>",
    )  # fmt: skip
    formula_id = _api_submit(
        api, tiny_bundles, 2, capture, method_name=FORMULA_NAME, method_family=FORMULA_FAMILY,
        description=FORMULA_NAME,
    )  # fmt: skip
    web = Client()
    web.force_login(user)
    with capture(execute=True):
        resp = web.post("/submit/", {
            "benchmark": benchmark.pk, "track": "predictions", "protocol": "full",
            "method_name": f"-2+3 {IMG}", "method_family": "lora", "pretraining": "unknown",
            "description": SCRIPT, "is_public": "on",
            "file": SimpleUploadedFile("p.zip", predictions_zip(tiny_bundles, seed=3)),
        })  # fmt: skip
    assert resp.status_code == 302, resp.content[:3000]
    ids = [html_id, formula_id, int(resp["Location"].rstrip("/").rsplit("/", 1)[1])]
    subs = Submission.objects.filter(pk__in=ids)
    assert [s.status for s in subs] == [Status.SUCCEEDED] * 3, [s.error for s in subs]
    recompute(benchmark)
    return {"ids": ids, "api": api, "web": web}


def _pages(board: dict[str, Any]) -> list[str]:
    pages = ["/", "/b/tiny-bench/", "/b/tiny-bench/charts/", "/b/tiny-bench/xray/"]
    pages += ["/methods/lora/", f"/methods/{quote(FORMULA_FAMILY, safe='')}/"]
    pages += ["/submissions/mine/"]
    return pages + [f"/submissions/{pk}/" for pk in board["ids"]]


def test_pages_escape_html_and_js(hostile_board: dict[str, Any]) -> None:
    anonymous, owner = Client(), hostile_board["web"]
    for client in (anonymous, owner):
        for url in _pages(hostile_board):
            if url == "/submissions/mine/" and client is anonymous:
                continue
            resp = client.get(url)
            assert resp.status_code == 200, url
            body = resp.content.decode()
            assert SCRIPT not in body and IMG not in body and "href='javascript" not in body, url
    page = owner.get(f"/submissions/{hostile_board['ids'][0]}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    board = anonymous.get("/b/tiny-bench/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in board
    for pk in hostile_board["ids"]:
        status = json.loads(owner.get(f"/submissions/{pk}/status.json").content)
        assert SCRIPT not in status["body_html"] and IMG not in status["body_html"]


def test_json_carries_names_as_data_never_as_html(hostile_board: dict[str, Any]) -> None:
    """JSON is not markup: the name comes back verbatim, typed as JSON and never sniffed."""
    api, html_id = hostile_board["api"], hostile_board["ids"][0]
    for url in (f"{API_URL}{html_id}/", "/api/v1/leaderboards/tiny-bench/",
                "/b/tiny-bench/export.json"):  # fmt: skip
        resp = api.get(url)
        assert resp.status_code == 200, url
        assert resp["Content-Type"].startswith("application/json"), url
        assert resp["X-Content-Type-Options"] == "nosniff", url
    detail = api.get(f"{API_URL}{html_id}/").json()
    assert detail["method_name"] == SCRIPT
    names = {
        r["method_name"] for r in api.get("/api/v1/leaderboards/tiny-bench/").json()["results"]
    }
    assert {SCRIPT, FORMULA_NAME} <= names


def test_csv_export_neutralises_formulas(hostile_board: dict[str, Any]) -> None:
    resp = Client().get("/b/tiny-bench/export.csv")
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(resp.content.decode())))
    header, body = rows[0], rows[1:]
    assert len(body) == 3
    for row in body:
        for cell in row:
            if cell.startswith(FORMULA_PREFIXES):
                float(cell)  # only numbers may start like a formula (a negative OOD gap)
    cells = {c for row in body for c in row}
    assert {"'" + FORMULA_NAME, "'" + FORMULA_FAMILY, "'" + FORMULA_USER} <= cells
    assert f"'-2+3 {IMG}" in cells and SCRIPT in cells  # CSV is data: escaped for spreadsheets only
    assert header[2:4] == ["method", "participant"]


@pytest.mark.parametrize("entry", ["form", "api"])
def test_bidi_and_zero_width_characters_are_stripped(
    entry: str, benchmark: Benchmark, tiny_bundles: Path, django_capture_on_commit_callbacks: Any
) -> None:
    user = participant()
    tricky = "\u202eexe.\u200bmy\u2066-lora\u200f\u0000"
    fields = {"method_name": tricky, "method_family": "lo\u200bra", "description": "a\u202eb"}
    upload = SimpleUploadedFile("p.zip", predictions_zip(tiny_bundles))
    with django_capture_on_commit_callbacks(execute=True):
        if entry == "api":
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {create_token(user)[1]}")
            data = {"benchmark": "tiny-bench", "track": "predictions", **fields, "file": upload}
            resp = client.post(API_URL, data, format="multipart")
        else:
            client = Client()
            client.force_login(user)
            resp = client.post("/submit/", {
                "benchmark": benchmark.pk, "track": "predictions", "protocol": "full",
                "pretraining": "unknown", **fields, "file": upload,
            })  # fmt: skip
    # A NUL byte is refused outright; without it the rest is accepted and cleaned.
    assert resp.status_code == 400 and b"ull character" in resp.content
    fields["method_name"] = tricky.rstrip("\u0000")
    upload.seek(0)
    with django_capture_on_commit_callbacks(execute=True):
        if entry == "api":
            data = {"benchmark": "tiny-bench", "track": "predictions", **fields, "file": upload}
            resp = client.post(API_URL, data, format="multipart")
        else:
            resp = client.post("/submit/", {
                "benchmark": benchmark.pk, "track": "predictions", "protocol": "full",
                "pretraining": "unknown", **fields, "file": upload,
            })  # fmt: skip
    assert resp.status_code in (201, 302), resp.content[:2000]
    sub = Submission.objects.get()
    assert (sub.method_name, sub.method_family, sub.description) == ("exe.my-lora", "lora", "ab")
    assert sub.status == Status.SUCCEEDED
