"""Board pages: exports equal to the table, constant queries, the page cache, charts, home,
task, method and submission pages, and plotly.js served locally."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leaderboard.models import Benchmark, Submission
from leaderboard.services.boards import recompute
from leaderboard.services.charts import log_linear_fit
from tests.browser.seed import make_score, scored_submission
from tests.leaderboard.conftest import make_user

pytestmark = pytest.mark.django_db
ALL = ("tiny-cxr", "tiny-derm", "tiny-oct")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _user(i: int) -> Any:
    from django.contrib.auth import get_user_model

    # a few participants with many methods: password hashing would dominate the test's time
    found = get_user_model().objects.filter(username=f"p{i % 7}").first()
    return found or make_user(f"p{i % 7}")


def _seed(bench: Benchmark, root: Path, n: int, start: int = 0, **kw: Any) -> list[Submission]:
    out = []
    for i in range(start, start + n):
        v = 0.4 + 0.5 * ((i * 37) % 100) / 100
        values = {s: (v, v - 0.05 * (i % 4)) for s in ALL}
        fields = {
            "method_family": ("lora", "adapter", "linear")[i % 3],
            "reported_tunable_params": 10 ** (2 + i % 6),
        } | kw
        out.append(
            scored_submission(
                _user(i), bench, make_score(root, values, seed=i), method_name=f"m{i}", **fields
            )
        )
    return out


def _table(html: str) -> list[list[str]]:
    body = html.split('id="board-table"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = []
    for tr in re.findall(r"<tr data-submission.*?</tr>", body, flags=re.S):
        cells = re.findall(r"<(?:td|th)[^>]*>(.*?)</(?:td|th)>", tr, flags=re.S)
        rows.append(
            [
                re.sub(r"<span class=\"ci\">.*?</span>|<[^>]+>", "", c).split()[0]
                if c.strip()
                else ""
                for c in cells
            ]
        )
    return rows


def test_csv_export_equals_the_table(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    subs = _seed(benchmark, tiny_bundles, 7)
    subs[0].method_name = "=HYPERLINK(1)"
    subs[0].save()
    _seed(benchmark, tiny_bundles, 1, start=50, is_baseline=True)
    recompute(benchmark)
    for query in ("", "?split=test_ood&sort=task:tiny-oct&order=asc", "?family=lora&all=1"):
        table = _table(client.get("/b/tiny-bench/" + query).content.decode())
        reply = client.get("/b/tiny-bench/export.csv" + query)
        assert reply["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(reply.content.decode())))
        complete = [r for r in rows if r["complete"] == "True"]
        assert len(complete) == len(table) > 0
        split = "test_ood" if "ood" in query else "test_id"
        for t, r in zip(table, complete, strict=True):
            assert t[0].rstrip("≈").strip() == (r["rank"] or "–")
            assert t[1] == r["method"].removeprefix("'")
            prim = {"tiny-cxr": "accuracy", "tiny-derm": "auroc", "tiny-oct": "auroc"}
            tasks = [
                f"{float(r[f'{s}.{split}.{prim[s]}']):.4f}"
                for s in ("tiny-derm", "tiny-oct", "tiny-cxr")
            ]
            assert t[2:5] == tasks
            assert t[5:8] == [f"{float(r[c]):.4f}" for c in ("test_id", "test_ood", "ood_gap")]
    rows = list(csv.reader(io.StringIO(client.get("/b/tiny-bench/export.csv").content.decode())))
    header = rows[0]
    flat = [c for row in rows[1:] for c in row]
    assert "'=HYPERLINK(1)" in flat and "=HYPERLINK(1)" not in flat
    assert {r[header.index("benchmark_version")] for r in rows[1:]} == {
        json.loads(client.get("/b/tiny-bench/export.json").content)["benchmark_version"]
    }
    data = json.loads(client.get("/b/tiny-bench/xray/export.json?protocol=full").content)
    assert data["board"] == "xray" and len(data["rows"]) == 8
    assert (
        data["rows"][0]["baseline"] in (True, False)
        and "tiny-cxr.test_id.accuracy" in data["columns"]
    )
    assert re.fullmatch(r"[0-9a-f]{12}", data["benchmark_version"])


def _queries(client: Client, url: str) -> int:
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


URLS = (
    "/b/tiny-bench/",
    "/b/tiny-bench/xray/?split=test_ood&sort=task:tiny-cxr",
    "/b/tiny-bench/charts/",
    "/b/tiny-bench/export.csv",
    "/",
    "/tasks/tiny-derm/",
    "/methods/lora/",
)


def test_queries_per_page_do_not_grow_with_submissions(
    benchmark: Benchmark,
    tiny_bundles: Path,
    client: Client,
    django_assert_max_num_queries: Any,
) -> None:
    _seed(benchmark, tiny_bundles, 3)
    recompute(benchmark)
    few = {url: _queries(client, url) for url in URLS}
    _seed(benchmark, tiny_bundles, 60, start=3)
    recompute(benchmark)
    many = {url: _queries(client, url) for url in URLS}
    assert few == many
    for url in URLS:
        with django_assert_max_num_queries(12):
            client.get(url)


def test_board_pages_are_cached_until_a_result_lands(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    _seed(benchmark, tiny_bundles, 2)
    recompute(benchmark)
    miss = _queries(client, "/b/tiny-bench/")
    with CaptureQueriesContext(connection) as ctx:
        client.get("/b/tiny-bench/")
    assert len(ctx.captured_queries) < miss - 3  # the rows come from the cache
    late = _seed(benchmark, tiny_bundles, 1, start=90)[0]
    assert f'data-submission="{late.pk}"' not in client.get("/b/tiny-bench/").content.decode()
    recompute(benchmark)  # what the worker does when the result lands
    assert f'data-submission="{late.pk}"' in client.get("/b/tiny-bench/").content.decode()


def test_charts_page_has_one_marker_trace_per_family_and_a_trend(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    _seed(benchmark, tiny_bundles, 9)
    recompute(benchmark)
    html = client.get("/b/tiny-bench/charts/").content.decode()
    assert "<script>" not in html and "cdn" not in html.lower()
    specs = {
        m.group(1): json.loads(m.group(2))
        for m in re.finditer(
            r'<script id="([\w-]+)-data" type="application/json">(.*?)</script>', html, re.S
        )
    }
    assert set(specs) == {
        "chart-scaling",
        "chart-id-ood",
        "chart-pretraining",
        "chart-heatmap",
        "chart-history",
    }
    scaling = specs["chart-scaling"]
    markers = [t for t in scaling["data"] if t["mode"] == "markers"]
    assert sorted(t["name"] for t in markers) == ["adapter", "linear", "lora"]
    assert sum(len(t["x"]) for t in markers) == 9 and scaling["layout"]["xaxis"]["type"] == "log"
    trend = [t for t in scaling["data"] if t["mode"] == "lines"]
    assert len(trend) == 1
    xs = [x for t in markers for x in t["x"]]
    ys = [y for t in markers for y in t["y"]]
    slope, intercept = np.polyfit(np.log10(xs), ys, 1)
    a, b = log_linear_fit(xs, ys)  # type: ignore[misc]
    assert b == pytest.approx(slope) and a == pytest.approx(intercept)
    assert trend[0]["y"][0] == pytest.approx(a + b * np.log10(trend[0]["x"][0]))
    diag = specs["chart-id-ood"]["data"][-1]
    assert diag["x"] == diag["y"]
    heat = specs["chart-heatmap"]["data"][0]
    assert heat["x"] == ["tiny-derm", "tiny-oct", "tiny-cxr"] and len(heat["z"]) == 9
    history = specs["chart-history"]["data"][0]["y"]
    assert history == sorted(history) and len(set(history)) == len(history)


def test_home_shows_leaders_recent_workers_and_seeding(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    subs = _seed(benchmark, tiny_bundles, 5)
    staff = make_user("seeder", staff=True)
    Submission.objects.create(
        owner=staff,
        benchmark=benchmark,
        track="predictions",
        method_name="queued-baseline",
        is_baseline=True,
        status="queued",
    )
    subs[0].is_baseline = True
    subs[0].save()
    recompute(benchmark)
    html = client.get("/").content.decode()
    best = max(subs, key=lambda s: s.score_json["overall"]["test_id"])
    leaders = html.split('class="leaders"', 1)[1].split("</ol>", 1)[0]
    assert leaders.index(best.method_name) >= 0 and leaders.count("<li>") == 3
    assert "1 of 2 scored" in html and "1 running or queued" in html
    assert "0 CPU workers" in html and "In flight: 1 predictions" in html
    recent = html.split('id="recent"', 1)[1].split("</ol>", 1)[0]
    assert recent.count("<li>") == 5
    nav = html.split('aria-label="Leaderboards"', 1)[1].split("</nav>", 1)[0]
    for href in (
        '/b/tiny-bench/"',
        "/b/tiny-bench/xray/",
        "/b/tiny-bench/colour/",
        "/b/tiny-bench/ct-oct/",
    ):
        assert href in nav


def test_task_page_download_and_sample(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    _seed(benchmark, tiny_bundles, 3)
    recompute(benchmark)
    html = client.get("/tasks/tiny-derm/").content.decode()
    assert "never appear in train" in html and "CC0-1.0" in html and "Synthetic" in html
    balance = json.loads(
        html.split('id="chart-class-balance-data" type="application/json">', 1)[1].split(
            "</script>", 1
        )[0]
    )
    assert [t["name"] for t in balance["data"]] == ["train", "val"] and sum(
        balance["data"][0]["y"]
    ) == 12
    board = html.split('id="task-board"', 1)[1].split("</table>", 1)[0]
    assert board.count('<th scope="row">') == 3
    assert client.get("/tasks/tiny-derm/download").status_code == 200
    refused = client.post("/tasks/tiny-derm/download", {})
    assert refused.status_code == 400 and b"accept" in refused.content
    reply = client.post("/tasks/tiny-derm/download", {"accept": "yes"})
    assert reply.status_code == 200 and "attachment" in reply["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(b"".join(reply.streaming_content))) as zf:  # type: ignore[attr-defined]
        names = set(zf.namelist())
    assert "train_labels.npy" in names and "test_ood_images.npy" in names
    assert not any("test_id_labels" in n or "test_ood_patient" in n for n in names)
    sample = client.get("/tasks/tiny-derm/sample.csv")
    assert sample.content.decode().splitlines()[0] == "image_id,benign,malignant"
    assert client.get("/tasks/nope/download").status_code == 404


def test_method_page_lists_the_family_across_tasks(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    subs = _seed(benchmark, tiny_bundles, 6)
    recompute(benchmark)
    html = client.get("/methods/adapter/").content.decode()
    adapters = [s.method_name for s in subs if s.method_family == "adapter"]
    others = [s.method_name for s in subs if s.method_family != "adapter"]
    assert all(f">{m}<" in html for m in adapters) and not any(f">{m}<" in html for m in others)
    assert all(slug in html for slug in ALL)
    assert client.get("/methods/unknown-family/").status_code == 404


def test_submission_page_compares_with_the_best_baseline(
    benchmark: Benchmark, tiny_bundles: Path, client: Client
) -> None:
    weak, strong = _seed(benchmark, tiny_bundles, 2, is_baseline=True)
    mine = _seed(benchmark, tiny_bundles, 1, start=10)[0]
    recompute(benchmark)
    best = max((weak, strong), key=lambda s: s.score_json["overall"]["test_id"])
    html = client.get(f"/submissions/{mine.pk}/").content.decode()
    assert f'href="/submissions/{best.pk}/">{best.method_name}<' in html
    table = html.split('id="baseline-comparison"', 1)[1].split("</table>", 1)[0]
    mine_v = mine.score_json["tasks"]["tiny-cxr"]["test_id"]["accuracy"]["value"]
    best_v = best.score_json["tasks"]["tiny-cxr"]["test_id"]["accuracy"]["value"]
    assert f"{mine_v - best_v:.4f}" in table
    assert 'id="chart-submission-tasks-data"' in html
    # the live-refresh fragment carries the same body
    status = client.get(f"/submissions/{mine.pk}/status.json").json()
    assert "baseline-comparison" in status["body_html"]


def test_plotly_is_served_from_the_installed_package(settings: Any, tmp_path: Path) -> None:
    from django.contrib.staticfiles import finders

    from leaderboard.staticfinders import PlotlyFinder, plotly_source

    settings.VAR_DIR = tmp_path
    finder = PlotlyFinder()
    js = finder.find("vendor/plotly.min.js")
    assert Path(js).read_bytes() == plotly_source().read_bytes()
    css = Path(finder.find("vendor/plotly.css")).read_text()
    assert (
        ".js-plotly-plot .plotly" in css
        and ".plotly-notifier" in css
        and "X" not in css.split("{")[0]
    )
    assert (
        finder.find("vendor/other.js") == "" and finder.find("vendor/other.js", find_all=True) == []
    )
    assert sorted(p for p, _ in finder.list([])) == ["vendor/plotly.css", "vendor/plotly.min.js"]
    assert finders.find("js/charts.js") and finders.find("js/csp-shim.js")


def test_board_defaults_to_the_protocol_that_has_entries() -> None:
    """The demo's baselines are all `1k`: the default board must show them, not an empty `full`."""
    from django.http import QueryDict

    from leaderboard.services.boardquery import BoardFilters

    f = BoardFilters.parse(QueryDict(""), [], [], default_protocol="1k")
    assert f.protocol == "1k" and "protocol" not in f.params()
    chosen = BoardFilters.parse(QueryDict("protocol=full"), [], [], default_protocol="1k")
    assert chosen.protocol == "full" and chosen.params()["protocol"] == "full"
