"""Board correctness: ranks and ties, statistical ties, nulls, incomplete entries, one row per
participant and method, privacy, filters, sorting, the recompute task and its trigger."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client

from leaderboard.models import Benchmark, BoardEntry, BoardState
from leaderboard.services.boards import recompute
from tests.browser.seed import REPLICATES, make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _same(v: float, ood: float | None = None) -> dict[str, tuple[float, float | None]]:
    return {s: (v, v - 0.1 if ood is None else ood) for s in ALL}


def _add(user: Any, bench: Benchmark, root: Path, values: Any, name: str, **kw: Any) -> Any:
    noise = kw.pop("noise", None)
    seed = kw.pop("seed", 0)
    score = make_score(root, values, noise=noise, seed=seed)
    return scored_submission(user, bench, score, method_name=name, **kw)


def _rows(client: Client, url: str) -> list[dict[str, str]]:
    html = client.get(url).content.decode()
    table = html.split('id="board-table"', 1)[1].split("</table>", 1)[0]
    out = []
    for tr in re.findall(r"<tr data-submission=.*?</tr>", table, flags=re.S):
        cells = dict(re.findall(r'data-col="([^"]+)"[^>]*?(?:data-value="([^"]*)")?', tr))
        out.append(
            {
                **cells,
                "sub": re.search(r'data-submission="(\d+)"', tr).group(1),  # type: ignore[union-attr]
                "rank": re.search(r'data-col="rank">([^<\s]+)', tr).group(1),  # type: ignore[union-attr]
                "tied": "statistically tied" in tr,
            }
        )
    return out


def _incomplete(client: Client, url: str) -> str:
    html = client.get(url).content.decode()
    return (
        html.split('id="incomplete-table"', 1)[1].split("</table>", 1)[0]
        if "incomplete-table" in html
        else ""
    )


def test_ranks_share_ties_and_nulls_never_rank_above_numbers(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    users = [make_user(f"u{i}") for i in range(4)]
    a = _add(users[0], benchmark, tiny_bundles, _same(0.8), "a")
    b = _add(users[1], benchmark, tiny_bundles, _same(0.8), "b", seed=1)
    c = _add(users[2], benchmark, tiny_bundles, _same(0.6), "c", seed=2)
    # every task undefined on test_ood: complete, but no number there
    d = _add(users[3], benchmark, tiny_bundles, {s: (0.9, None) for s in ALL}, "d", seed=3)
    recompute(benchmark)
    rows = _rows(client, "/b/tiny-bench/")
    assert [(r["sub"], r["rank"]) for r in rows] == [
        (str(d.pk), "1"),
        (str(a.pk), "2"),
        (str(b.pk), "2"),
        (str(c.pk), "4"),
    ]
    ood = _rows(client, "/b/tiny-bench/?split=test_ood")
    assert [r["sub"] for r in ood][-1] == str(d.pk)
    assert ood[-1]["rank"] == "–" and all(r["rank"].isdigit() for r in ood[:-1])
    # sorting ascending still keeps the null last
    asc = _rows(client, "/b/tiny-bench/?split=test_ood&sort=test_ood&order=asc")
    assert asc[-1]["sub"] == str(d.pk)


def test_statistical_ties_use_paired_replicates(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    rng = np.random.default_rng(7)
    shared = {s: rng.normal(0, 0.05, REPLICATES) for s in ALL}
    u = [make_user(f"t{i}") for i in range(3)]
    leader = _add(u[0], benchmark, tiny_bundles, _same(0.80), "lead", noise=shared)
    # slightly lower but with its own noise: the paired difference straddles 0
    close_noise = {s: shared[s] + rng.normal(0, 0.05, REPLICATES) for s in ALL}
    close = _add(u[1], benchmark, tiny_bundles, _same(0.795), "close", noise=close_noise)
    # much lower with the same noise: the paired difference is exactly 0.2 everywhere
    far = _add(u[2], benchmark, tiny_bundles, _same(0.60), "far", noise=shared)
    recompute(benchmark)
    rows = {r["sub"]: r for r in _rows(client, "/b/tiny-bench/")}
    assert rows[str(leader.pk)]["tied"] and rows[str(close.pk)]["tied"]
    assert not rows[str(far.pk)]["tied"]
    entry = BoardEntry.objects.get(submission=close, modality__isnull=True)
    assert entry.tied_test_id and entry.rank_test_id == 2
    # per-task ties, for the task pages
    cell = BoardEntry.objects.get(submission=far, modality__isnull=True).cells["tiny-cxr"]
    assert cell["rank"]["test_id"] == 3 and cell["tied"]["test_id"] is False
    html = client.get("/tasks/tiny-cxr/").content.decode()
    assert html.index(">lead<") < html.index(">close<") < html.index(">far<")


def test_incomplete_entries_are_shown_apart_and_not_ranked(
    benchmark: Benchmark, tiny_bundles: Path, client: Client, alice: Any, bob: Any
) -> None:
    full = _add(alice, benchmark, tiny_bundles, _same(0.6), "full")
    part = _add(bob, benchmark, tiny_bundles, {"tiny-cxr": (0.99, 0.9)}, "part")
    recompute(benchmark)
    assert [r["sub"] for r in _rows(client, "/b/tiny-bench/")] == [str(full.pk)]
    apart = _incomplete(client, "/b/tiny-bench/")
    assert f'data-submission="{part.pk}"' in apart and 'data-col="rank">–' in apart
    # on the X-ray board it has every task: ranked first there
    xray = _rows(client, "/b/tiny-bench/xray/")
    assert [r["sub"] for r in xray] == [str(part.pk), str(full.pk)]
    # a modality it did not submit at all does not list it
    assert (
        f'data-submission="{part.pk}"' not in client.get("/b/tiny-bench/colour/").content.decode()
    )


def test_one_row_per_participant_and_method_by_default(
    benchmark: Benchmark, tiny_bundles: Path, client: Client, alice: Any, bob: Any
) -> None:
    old = _add(alice, benchmark, tiny_bundles, _same(0.7, 0.2), "same")
    new = _add(alice, benchmark, tiny_bundles, _same(0.6, 0.5), "same", seed=1)
    other = _add(alice, benchmark, tiny_bundles, _same(0.5), "different", seed=2)
    bobs = _add(bob, benchmark, tiny_bundles, _same(0.65), "same", seed=3)
    recompute(benchmark)
    default = [r["sub"] for r in _rows(client, "/b/tiny-bench/")]
    assert default == [str(old.pk), str(bobs.pk), str(other.pk)]
    everything = _rows(client, "/b/tiny-bench/?all=1")
    assert [r["sub"] for r in everything] == [str(old.pk), str(bobs.pk), str(new.pk), str(other.pk)]
    assert [r["rank"] for r in everything] == ["1", "2", "3", "4"]
    # the best row depends on the split: on test_ood alice's newer run is her best
    ood = [r["sub"] for r in _rows(client, "/b/tiny-bench/?split=test_ood")]
    assert str(new.pk) in ood and str(old.pk) not in ood


def test_private_and_unfinished_submissions_are_never_shown(
    benchmark: Benchmark, tiny_bundles: Path, client: Client, alice: Any, bob: Any
) -> None:
    public = _add(alice, benchmark, tiny_bundles, _same(0.6), "public-one")
    secret = _add(bob, benchmark, tiny_bundles, _same(0.9), "secret-one", is_public=False)
    recompute(benchmark)
    client.force_login(bob)  # not even to their owner: boards are public rankings
    for url in (
        "/b/tiny-bench/",
        "/b/tiny-bench/xray/",
        "/b/tiny-bench/export.csv",
        "/b/tiny-bench/export.json",
        "/b/tiny-bench/charts/",
        "/",
        "/methods/lora/",
        "/tasks/tiny-cxr/",
    ):
        body = client.get(url).content.decode()
        assert "secret-one" not in body, url
    assert "public-one" in client.get("/b/tiny-bench/").content.decode()
    assert not BoardEntry.objects.filter(submission=secret).exists()
    assert BoardEntry.objects.filter(submission=public).count() == 4  # overall + 3 modalities


def test_filters_and_sorting(benchmark: Benchmark, tiny_bundles: Path, client: Client) -> None:
    specs = [
        ("g", "lora", "general", "predictions", "full", None, 0.7),
        ("m", "adapter", "medical", "checkpoint", "full", 5000, 0.6),
        ("b", "adapter", "both", "checkpoint", "full", 7000, 0.8),
        ("k", "lora", "general", "predictions", "1k", None, 0.5),
    ]
    subs = {}
    for i, (name, fam, pre, track, proto, verified, v) in enumerate(specs):
        subs[name] = _add(
            make_user(f"f{i}"),
            benchmark,
            tiny_bundles,
            _same(v),
            name,
            seed=i,
            method_family=fam,
            pretraining=pre,
            track=track,
            protocol=proto,
            verified_tunable_params=verified,
            reported_tunable_params=10**i,
        )
    recompute(benchmark)

    def names(query: str) -> list[str]:
        return [
            BoardEntry.objects.get(submission_id=r["sub"], modality__isnull=True).method_name
            for r in _rows(client, "/b/tiny-bench/" + query)
        ]

    assert names("") == ["b", "g", "m"]
    assert names("?protocol=1k") == ["k"]
    assert names("?family=adapter") == ["b", "m"]
    assert names("?pretraining=medical") == ["m"]
    assert names("?track=predictions") == ["g"]
    assert names("?verified=1") == ["b", "m"]
    assert names("?sort=params&order=asc") == ["g", "m", "b"]  # 1, 5000, 7000
    assert names("?sort=method&order=asc") == ["b", "g", "m"]
    assert names("?sort=task:tiny-derm&order=asc") == ["m", "g", "b"]
    assert names("?protocol=bogus&sort=bogus") == ["b", "g", "m"]  # bad values: defaults
    html = client.get("/b/tiny-bench/?metric=balanced_accuracy").content.decode()
    assert 'data-col="task:tiny-cxr" data-value="0.4"' in html  # b: 0.8 / 2 (the seed's rule)
    # Next to Charts, the findings page of the benchmark, with the board's filters
    page = client.get("/b/tiny-bench/xray/?family=adapter&split=test_ood&page=2").content.decode()
    links = {k: h for h, k in re.findall(r'<a href="([^"]*)" id="(charts|findings)-link"', page)}
    charts, findings = (html_lib.unescape(links[k]) for k in ("charts", "findings"))
    query = charts.split("?", 1)[1]
    assert "family=adapter" in query and "split=test_ood" in query and "page=2" not in query
    assert findings == f"/b/tiny-bench/findings/?{query}"
    assert client.get(findings).status_code == 200
    assert client.get("/b/nope/").status_code == 404
    assert client.get("/b/tiny-bench/nope/").status_code == 404


def test_recompute_task_is_triggered_on_commit_and_coalesces(
    benchmark: Benchmark,
    tiny_bundles: Path,
    alice: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.db import transaction

    from leaderboard.tasks import evaluation
    from leaderboard.tasks.boards import recompute_boards

    calls: list[int] = []
    monkeypatch.setattr(evaluation, "request_recompute", calls.append)
    sub = _add(alice, benchmark, tiny_bundles, _same(0.7), "x")
    sub.status = "running"
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        evaluation._succeed(make_score(tiny_bundles, _same(0.7)), {})(sub)
    assert calls == [benchmark.pk]

    assert recompute_boards(benchmark_id=benchmark.pk, requested_at=0.0) == "recomputed"
    gen = BoardState.objects.get(benchmark=benchmark).generation
    # a request older than the data of the last recompute is already covered
    assert recompute_boards(benchmark_id=benchmark.pk, requested_at=0.0) == "skipped"
    assert BoardState.objects.get(benchmark=benchmark).generation == gen
    assert recompute_boards(benchmark_id=benchmark.pk, requested_at=None) == "recomputed"
    assert recompute_boards(benchmark_id=10**9) == "gone"


def test_request_recompute_survives_a_broken_broker(
    benchmark: Benchmark, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leaderboard.tasks.boards import recompute_boards, request_recompute

    def refuse(**kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(recompute_boards, "apply_async", refuse)
    request_recompute(benchmark.pk)  # logged, not raised


def test_recompute_waits_so_results_landing_meanwhile_share_it(
    benchmark: Benchmark, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    from leaderboard.tasks.boards import recompute_boards, request_recompute

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(recompute_boards, "apply_async", lambda **kw: sent.append(kw))
    settings.MEDVTAB_BOARD_RECOMPUTE_DELAY_S = 2
    request_recompute(benchmark.pk)
    request_recompute(benchmark.pk)
    assert [kw["countdown"] for kw in sent] == [2, 2]
    first, second = (kw["kwargs"]["requested_at"] for kw in sent)
    # the first to run recomputes; the second was requested before it ran: covered, skipped
    assert recompute_boards(**sent[0]["kwargs"]) == "recomputed"
    assert recompute_boards(**sent[1]["kwargs"]) == "skipped"
    assert first <= second
    settings.MEDVTAB_BOARD_RECOMPUTE_DELAY_S = 0
    request_recompute(benchmark.pk)
    assert sent[-1]["countdown"] is None
