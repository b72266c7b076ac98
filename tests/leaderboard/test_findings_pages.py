"""The findings page, its JSON export and the API: numbers recomputed here from the stored
replicate vectors, the route ahead of the modality route, the board's filters, reference rows
left out, and reserved modality slugs refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.urls import resolve

from datasets.bundle import RESERVED_MODALITY_SLUGS, BundleError, list_tasks
from leaderboard.models import Benchmark, ReplicateVector, Submission, Task
from leaderboard.services.registration import sync_benchmark
from leaderboard.urls_boards import fixed_segments, urlpatterns
from tests.factories import write_tiny_task
from tests.leaderboard.findings_seed import seed_findings

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(benchmark: Benchmark, tiny_bundles: Path, settings: Any, tmp_path: Path) -> list[Any]:
    settings.MEDIA_ROOT = tmp_path / "media"
    return seed_findings(tiny_bundles, benchmark)


def _overall(sub: Submission, split: str) -> tuple[float, np.ndarray]:
    """The overall score and replicate vector, from the stored rows alone."""
    values, vectors = [], []
    for task in Task.objects.filter(benchmark=sub.benchmark).order_by("slug"):
        values.append(sub.score_json["tasks"][task.slug][split][task.primary_metric]["value"])
        raw = ReplicateVector.objects.get(submission=sub, task=task, split=split).values
        vectors.append(np.frombuffer(bytes(raw), dtype="<f8"))
    return float(np.mean(values)), np.vstack(vectors).mean(axis=0)


def _ci(v: np.ndarray) -> list[float]:
    return [float(x) for x in np.percentile(v[~np.isnan(v)], [2.5, 97.5])]


def _api(client: Any, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/v1/findings/tiny-bench/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_numbers_equal_a_recomputation_from_stored_vectors(client: Any, seeded: list[Any]) -> None:
    data = _api(client, "?protocol=1k")
    sweep = [s for s in seeded if s.method_family == "lora" and not s.is_reference]
    assert data["entries"] == len(seeded) - 1  # the reference row is left out
    # pre-training: medical − general per size, mean over the three pairs, CI per replicate
    diffs, vecs = [], []
    for size in (10**3, 10**4, 10**5):
        med = next(
            s for s in sweep if s.pretraining == "medical" and s.reported_tunable_params == size
        )
        gen = next(
            s for s in sweep if s.pretraining == "general" and s.reported_tunable_params == size
        )
        (m, mv), (g, gv) = _overall(med, "test_id"), _overall(gen, "test_id")
        diffs.append(m - g)
        vecs.append(mv - gv)
    row = data["pretraining"]["rows"][0]
    assert row["group"] == "overall" and len(row["pairs"]) == 3
    assert row["difference"]["value"] == pytest.approx(np.mean(diffs), abs=1e-9)
    assert [row["difference"]["ci_low"], row["difference"]["ci_high"]] == pytest.approx(
        _ci(np.mean(vecs, axis=0)), abs=1e-9
    )
    # scaling: least-squares slope on log10 params, per replicate for the CI
    pts = [_overall(s, "test_id") for s in sweep]
    x = np.log10([float(s.reported_tunable_params) for s in sweep])
    lora = next(r for r in data["scaling"]["rows"] if r["family"] == "lora")
    assert lora["sizes"] == 3
    assert lora["slope"]["value"] == pytest.approx(np.polyfit(x, [p[0] for p in pts], 1)[0])
    reps = np.polyfit(x, np.vstack([p[1] for p in pts]), 1)[0]
    assert [lora["slope"]["ci_low"], lora["slope"]["ci_high"]] == pytest.approx(_ci(reps))
    # GMoE against the best single-backbone entry chosen on test_ood, reported on test_id
    gmoe = data["gmoe"]["rows"][0]
    best = max(sweep, key=lambda s: (_overall(s, "test_ood")[0], -s.pk))
    assert gmoe["chosen_on"] == "test_ood" and gmoe["best"]["id"] == best.pk
    (gv_, gvec), (bv, bvec) = _overall(seeded[-2], "test_id"), _overall(best, "test_id")
    assert gmoe["difference"]["value"] == pytest.approx(gv_ - bv, abs=1e-9)
    assert [gmoe["difference"]["ci_low"], gmoe["difference"]["ci_high"]] == pytest.approx(
        _ci(gvec - bvec), abs=1e-9
    )
    for panel in ("scaling", "pretraining", "ood", "gmoe"):
        assert data[panel]["available"], data[panel]["missing"]
        assert data[panel]["sentence"].startswith("Synthetic data: ")


def test_page_and_json_export_show_the_same_findings(client: Any, seeded: list[Any]) -> None:
    assert resolve("/b/tiny-bench/findings/").url_name == "board_findings"  # not a modality
    page = client.get("/b/tiny-bench/findings/?protocol=1k")
    assert page.status_code == 200
    html = page.content.decode()
    exported = client.get("/b/tiny-bench/findings.json?protocol=1k")
    assert exported.status_code == 200 and exported["Content-Type"] == "application/json"
    data = exported.json()
    assert data == _api(client, "?protocol=1k")
    for panel in ("scaling", "pretraining", "ood", "gmoe"):
        assert f'id="chart-findings-{panel}"' in html
        assert data[panel]["sentence"][:40] in html
    assert "<script>" not in html  # figures travel as JSON data, drawn by charts.js
    charts = client.get("/b/tiny-bench/charts/?protocol=1k").content.decode()
    assert 'id="findings-link"' in charts and "/b/tiny-bench/findings/" in charts


def test_filters_apply(client: Any, seeded: list[Any]) -> None:
    medical = _api(client, "?protocol=1k&pretraining=medical")
    assert medical["entries"] == 3 and medical["filters"]["pretraining"] == "medical"
    assert not medical["pretraining"]["available"]
    assert "no pair to compare" in medical["pretraining"]["sentence"]
    assert not medical["gmoe"]["available"]
    full = _api(client, "?protocol=full")
    assert full["entries"] == 0 and not full["scaling"]["available"]
    ood = _api(client, "?protocol=1k&split=test_ood")
    assert ood["split"] == "test_ood" and ood["gmoe"]["rows"][0]["chosen_on"] == "test_id"
    assert client.get("/b/tiny-bench/findings/?protocol=1k&split=test_ood").status_code == 200


def test_charts_leave_reference_rows_out(client: Any, seeded: list[Any]) -> None:
    page = client.get("/b/tiny-bench/charts/?protocol=1k").content.decode()
    start = page.index('id="chart-scaling-data"')
    spec = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
    xs = [x for t in spec["data"] if t.get("mode") == "markers" for x in t["x"]]
    assert 10**6 not in xs and len(xs) == len(seeded) - 1


def test_api_refuses_bad_input(client: Any, seeded: list[Any]) -> None:
    assert client.get("/api/v1/findings/nope/").status_code == 404
    bad = client.get("/api/v1/findings/tiny-bench/?split=test")
    assert bad.status_code == 400 and bad.json()["field"] == "split"
    assert client.get("/b/nope/findings/").status_code == 404
    assert client.get("/b/nope/findings.json").status_code == 404


def test_every_fixed_board_segment_is_a_reserved_modality_slug() -> None:
    segments = fixed_segments(urlpatterns)
    assert {"charts", "findings", "export"} <= segments
    assert segments - {"~checkpoint-only"} <= RESERVED_MODALITY_SLUGS


@pytest.mark.parametrize("slug", sorted(RESERVED_MODALITY_SLUGS))
def test_reserved_modality_slugs_are_refused(data_root: Path, slug: str) -> None:
    with pytest.raises(BundleError, match=f"modality '{slug}' is reserved"):
        write_tiny_task(data_root, "tiny-bad", modality=slug)
    assert list_tasks(data_root, "tiny-bench") == []  # nothing was written


def test_a_reserved_modality_on_disk_is_refused_at_sync(data_root: Path) -> None:
    write_tiny_task(data_root, "tiny-ok", modality="xray")
    task_json = data_root / "public" / "tiny-bench" / "tiny-ok" / "task.json"
    meta = json.loads(task_json.read_text())
    task_json.write_text(json.dumps({**meta, "modality": "findings"}))
    with pytest.raises(BundleError, match="reserved"):
        sync_benchmark(data_root, "tiny-bench")
    assert not Benchmark.objects.filter(slug="tiny-bench").exists()


def test_modality_slugs_outside_the_slug_alphabet_are_refused(data_root: Path) -> None:
    with pytest.raises(BundleError, match="modality 'X Ray'"):
        write_tiny_task(data_root, "tiny-bad", modality="X Ray")
