"""Reference rows on the boards: shown and marked, excluded from ranks, ties, leaders, the best
per owner and the best-over-time history; ``is_reference`` in exports and the API."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client

from leaderboard.models import Benchmark, BoardEntry, BoardState
from leaderboard.services.baselines import baseline_owner
from leaderboard.services.boards import recompute
from tests.browser.seed import REPLICATES, make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _same(v: float) -> dict[str, tuple[float, float]]:
    return {s: (v, v - 0.1) for s in ALL}


def _reference(bench: Benchmark, root: Path, value: float, protocol: str = "full",
               noise: dict[str, np.ndarray] | None = None, **kw: Any) -> Any:
    return scored_submission(
        kw.pop("owner", None) or baseline_owner(), bench, make_score(root, _same(value), noise=noise),
        method_name=kw.pop("method_name", f"pixel logistic regression (16×16, {protocol})"),
        protocol=protocol, track="checkpoint", method_family="reference", pretraining="unknown",
        is_reference=True, **kw,
    )


def _table_rows(client: Client, url: str) -> dict[int, str]:
    html = client.get(url).content.decode()
    table = html.split('id="board-table"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-submission="(\d+)"(.*?)</tr>', table, flags=re.S)
    return {int(pk): body for pk, body in rows}


def _rank(body: str) -> str:
    return re.search(r'data-col="rank">([^<\s]+)', body).group(1)  # type: ignore[union-attr]


@pytest.fixture
def board(benchmark: Benchmark, tiny_bundles: Path) -> dict[str, Any]:
    """Two entries and a reference scoring above both, all sharing noise so a tie is possible."""
    rng = np.random.default_rng(3)
    shared = {s: rng.normal(0, 0.05, REPLICATES) for s in ALL}
    a = scored_submission(make_user("ann"), benchmark, make_score(tiny_bundles, _same(0.7),
                          noise=shared), method_name="lora")
    b = scored_submission(make_user("ben"), benchmark, make_score(tiny_bundles, _same(0.6),
                          noise=shared), method_name="adapter", method_family="adapter")
    ref = _reference(benchmark, tiny_bundles, 0.95, noise=shared)
    ref_1k = _reference(benchmark, tiny_bundles, 0.5, protocol="1k")
    recompute(benchmark)
    return {"a": a, "b": b, "ref": ref, "ref_1k": ref_1k}


def test_reference_above_everyone_is_shown_but_never_ranked(
    board: dict[str, Any], client: Client
) -> None:
    a, b, ref = board["a"], board["b"], board["ref"]
    for url in ("/b/tiny-bench/", "/b/tiny-bench/xray/", "/b/tiny-bench/colour/",
                "/b/tiny-bench/ct-oct/", "/b/tiny-bench/?split=test_ood",
                "/b/tiny-bench/?all=1"):
        rows = _table_rows(client, url)
        assert list(rows) == [ref.pk, a.pk, b.pk], url  # shown in score order, first here
        assert _rank(rows[ref.pk]) == "–" and "statistically tied" not in rows[ref.pk]
        assert [_rank(rows[a.pk]), _rank(rows[b.pk])] == ["1", "2"], url
        assert 'class="reference"' in rows[ref.pk] and ">reference</span>" in rows[ref.pk]
        assert "reference" not in rows[a.pk]
    # the leader is the best entry: its ties are computed against it, not against the reference
    for e in BoardEntry.objects.filter(submission=ref):
        assert (e.rank_test_id, e.rank_all_test_id, e.rank_test_ood, e.rank_all_test_ood) == (
            None, None, None, None)
        assert not (e.tied_test_id or e.tied_test_ood)
        assert all("rank" not in cell for cell in e.cells.values())
    lead = BoardEntry.objects.get(submission=a, modality__isnull=True)
    assert lead.rank_test_id == 1 and lead.tied_test_id
    assert lead.cells["tiny-cxr"]["rank"]["test_id"] == 1
    # the history of the best score never steps to the reference
    history = BoardState.objects.get(benchmark=a.benchmark).history["overall"]["full:test_id"]
    assert [step[3] for step in history] == [a.pk]
    # nor does the home page list it among the leaders
    leaders = client.get("/").content.decode().split('class="leaders"', 1)[1].split("</ol>", 1)[0]
    assert "pixel logistic regression" not in leaders and ">lora<" in leaders


def test_protocol_filter_shows_that_protocols_reference(board: dict[str, Any], client: Client) -> None:
    assert list(_table_rows(client, "/b/tiny-bench/?protocol=1k")) == [board["ref_1k"].pk]
    assert board["ref_1k"].pk not in _table_rows(client, "/b/tiny-bench/")


def test_attribute_filters_keep_the_reference(board: dict[str, Any], client: Client) -> None:
    rows = _table_rows(client, "/b/tiny-bench/?family=lora&pretraining=general&track=predictions")
    assert list(rows) == [board["ref"].pk, board["a"].pk]


def test_not_collapsed_with_its_owners_entries(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    owner = baseline_owner()
    name = "pixel logistic regression (16×16, full)"
    # the same owner and method name as a better-scoring reference: both shown, the entry ranked
    entry = scored_submission(owner, benchmark, make_score(tiny_bundles, _same(0.6)),
                              method_name=name, is_baseline=True)
    ref = _reference(benchmark, tiny_bundles, 0.9, owner=owner, method_name=name)
    recompute(benchmark)
    rows = _table_rows(client, "/b/tiny-bench/")
    assert list(rows) == [ref.pk, entry.pk]
    assert _rank(rows[entry.pk]) == "1" and _rank(rows[ref.pk]) == "–"


def test_exports_and_api_carry_is_reference(board: dict[str, Any], client: Client) -> None:
    ref, a = board["ref"], board["a"]
    text = client.get("/b/tiny-bench/export.csv").content.decode()
    reader = list(csv.reader(io.StringIO(text)))
    header = reader[0]
    assert header[-1] == "is_reference"
    by_id = {r[header.index("submission_id")]: r for r in reader[1:]}
    assert by_id[str(ref.pk)][-1] == "True" and by_id[str(ref.pk)][0] == ""
    assert by_id[str(a.pk)][-1] == "False" and by_id[str(a.pk)][0] == "1"
    data = json.loads(client.get("/b/tiny-bench/export.json").content)
    flags = {r["submission_id"]: (r["is_reference"], r["rank"]) for r in data["rows"]}
    assert flags[ref.pk] == (True, None) and flags[a.pk] == (False, 1)
    api = client.get("/api/v1/leaderboards/tiny-bench/").json()
    rows = {r["submission_id"]: r for r in api["results"]}
    assert rows[ref.pk]["is_reference"] is True and rows[ref.pk]["rank"] is None
    assert rows[ref.pk]["test_id"]["ci_low"] is not None  # with its CIs
    assert rows[a.pk]["is_reference"] is False and rows[a.pk]["rank"] == 1


def test_admin_lists_is_reference(board: dict[str, Any], client: Client) -> None:
    staff = make_user("root-op", staff=True)
    staff.is_superuser = True  # type: ignore[attr-defined]
    staff.save()  # type: ignore[attr-defined]
    client.force_login(staff)  # type: ignore[arg-type]
    html = client.get("/admin/leaderboard/submission/?is_reference__exact=1").content.decode()
    assert "column-is_reference" in html
    assert "pixel logistic regression (16×16, full)" in html and ">lora<" not in html
