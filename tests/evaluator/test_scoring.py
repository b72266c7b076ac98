"""End-to-end scoring, the patient bootstrap, aggregates, the CLI and the score JSON schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from evaluator import bootstrap
from evaluator.bootstrap import PatientIndex, bootstrap_counts, percentile_ci, resample_counts
from evaluator.metrics import SplitContext, metrics_for
from evaluator.scoring import score_predictions_file, score_probabilities
from tests.evaluator.conftest import BENCH, all_test_ids, good_submission, random_probs

SCHEMA = json.loads((Path(__file__).parents[2] / "evaluator/schemas/score.schema.json").read_text())
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def scored(bench_root, metas, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s")
    a = good_submission(bench_root, metas, tmp / "a.zip", seed=1)
    b = good_submission(bench_root, metas, tmp / "b.zip", seed=2, skip=("chest-bin",))
    return (score_predictions_file(bench_root, BENCH, a, bootstrap=200, seed=0),
            score_predictions_file(bench_root, BENCH, b, bootstrap=200, seed=0))


def test_score_json_matches_schema_and_contains_point_estimates(scored) -> None:
    a, _ = scored
    jsonschema.validate(a.json, SCHEMA)
    for task in a.json["tasks"].values():
        for split in ("test_id", "test_ood"):
            for entry in task[split].values():
                if entry["value"] is not None and entry["ci_low"] is not None:
                    assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]


def test_ood_none_task_has_null_ood_metrics_with_reason(scored) -> None:
    task = scored[0].json["tasks"]["retina-grade"]
    assert all(e["value"] is None and "no OOD split" in e["reason"] for e in task["test_ood"].values())
    assert task["ood_gap"] is None
    assert task["test_id"]["accuracy"]["value"] is not None


def test_missing_task_makes_aggregates_incomplete(scored) -> None:
    a, b = scored
    assert a.json["modalities"]["xray"]["complete"] is True
    assert b.json["modalities"]["xray"]["complete"] is False
    assert b.json["overall"]["complete"] is False and b.json["all_tasks"]["complete"] is False
    assert "chest-bin" not in b.json["tasks"]


def test_a_full_predictions_submission_is_complete_overall(scored, metas) -> None:
    """ct-hidden accepts checkpoints only: the overall and modality aggregates leave it out, so a
    predictions submission of every task it may enter is complete; the checkpoint-only and the
    all-task aggregates say what it could not enter."""
    a, _ = scored
    t = a.json["tasks"]
    both = sorted(s for s, m in metas.items() if m.test_images_public)
    assert "ct-hidden" not in both and set(t) == set(both)
    primary = [t[s]["test_id"][metas[s].primary_metric]["value"] for s in both]
    assert a.json["overall"]["complete"] is True
    assert a.json["overall"]["test_id"] == pytest.approx(np.mean(primary))
    assert "ct" not in a.json["modalities"]  # its only task takes checkpoints only
    assert a.json["checkpoint_only"] == {
        "test_id": None, "test_ood": None, "ood_gap": None, "complete": False,
        "ci": {"test_id": None, "test_ood": None},
    }
    assert a.json["all_tasks"]["complete"] is False
    assert a.json["all_tasks"]["test_id"] == pytest.approx(np.mean(primary))


def test_aggregates_are_means_of_primary_metrics(scored) -> None:
    a, _ = scored
    t = a.json["tasks"]
    xray = a.json["modalities"]["xray"]
    expected = np.mean([t["chest-bin"]["test_id"]["auroc"]["value"], t["chest-multi"]["test_id"]["auroc"]["value"]])
    assert xray["test_id"] == pytest.approx(expected)
    assert xray["ood_gap"] == pytest.approx(xray["test_id"] - xray["test_ood"])
    lo, hi = xray["ci"]["test_id"]
    assert lo <= xray["test_id"] <= hi


def test_replicate_vectors_align_and_resamples_are_shared(scored) -> None:
    a, b = scored
    for res in (a, b):
        assert len(res.replicates["derm-synth"]["test_id"]) == 200
        assert res.replicates["retina-grade"]["test_ood"] is None
    # Same (task, version, split, seed): identical resamples, so CIs from a deterministic metric
    # of the labels alone agree; and the same submission scores identically twice.
    assert a.json["meta"]["benchmark_version"] == b.json["meta"]["benchmark_version"]
    m = metrics_for("multiclass")[0]
    assert m.name == "accuracy"


def test_same_resamples_for_two_submissions(bench_root, metas) -> None:
    meta = metas["derm-synth"]
    r1 = resample_counts(meta.slug, meta.version, "test_id", 0, 12, 50)
    r2 = resample_counts(meta.slug, meta.version, "test_id", 0, 12, 50)
    assert np.array_equal(r1, r2)
    assert not np.array_equal(r1, resample_counts(meta.slug, meta.version, "test_ood", 0, 12, 50))
    assert not np.array_equal(r1, resample_counts(meta.slug, "2", "test_id", 0, 12, 50))
    assert not np.array_equal(r1, resample_counts(meta.slug, meta.version, "test_id", 1, 12, 50))
    assert np.all(r1.sum(axis=1) == 12)


def _one_shot_counts(task: str, split: str, seed: int, n: int, replicates: int) -> np.ndarray:
    """The counts as one (replicates, n) draw makes them: what blocks must reproduce exactly."""
    rng = np.random.Generator(np.random.PCG64(bootstrap.resample_seed(task, "1", split, seed)))
    draws = rng.integers(0, n, size=(replicates, n), dtype=np.int64)
    counts = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(np.float64)
    return np.vstack([np.ones((1, n)), counts])


@pytest.mark.parametrize("block", [1, 7, 36, 10_000])
def test_counts_made_in_blocks_equal_one_draw(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(bootstrap, "_DRAW_BLOCK", block)
    monkeypatch.setattr(bootstrap, "_CACHE", type(bootstrap._CACHE)())
    counts = bootstrap_counts("t", "1", "test_id", 3, 9, 41)
    assert counts.shape == (42, 9) and counts.dtype == np.float64
    assert np.array_equal(counts, _one_shot_counts("t", "test_id", 3, 9, 41))
    assert np.array_equal(resample_counts("t", "1", "test_id", 3, 9, 41), counts[1:])


def test_the_counts_cache_is_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_CACHE", type(bootstrap._CACHE)())
    monkeypatch.setattr(bootstrap, "_CACHE_BYTES", 3 * 11 * 10 * 8)  # three (11 x 10) matrices
    for seed in range(5):
        bootstrap_counts("t", "1", "test_id", seed, 10, 10)
    assert [key[3] for key in bootstrap._CACHE] == [2, 3, 4]  # the oldest went first
    bootstrap_counts("t", "1", "test_id", 9, 40, 10)  # larger than the whole budget: not kept
    assert [key[3] for key in bootstrap._CACHE] == [2, 3, 4]


def test_perfect_predictions_score_one_with_a_degenerate_ci(bench_root, metas) -> None:
    from datasets.bundle import load_split

    meta = metas["chest-bin"]
    ids, parts = all_test_ids(bench_root, meta), []
    for s in ("test_id", "test_ood"):
        y = load_split(bench_root, meta, s, hidden=True, images=False).labels
        parts.append(np.eye(2)[y] * 0.9 + 0.05)
    res = score_probabilities(bench_root, BENCH, {"chest-bin": (ids, np.vstack(parts))}, bootstrap=100)
    entry = res.json["tasks"]["chest-bin"]["test_id"]["auroc"]
    assert entry["value"] == 1.0 and entry["ci_low"] == 1.0 == entry["ci_high"]


def _ctx(y, p, patients, replicates, seed):
    index = PatientIndex.from_ids(patients)
    counts = bootstrap_counts("t", "1", "test_id", seed, index.n_patients, replicates)
    return SplitContext("binary", ("n", "p"), "test_id", y, p, index, counts)


def _auroc_ci(y, p, patients, replicates=400, seed=0):
    vals, _ = metrics_for("binary")[0].definitions["binary"][1](_ctx(y, p, patients, replicates, seed))
    return vals[0], percentile_ci(vals[1:])


def _clustered(n_patients: int, per_patient: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.integers(0, 2, n_patients), per_patient)  # label shared within a patient
    effect = np.repeat(rng.normal(0, 1.5, n_patients), per_patient)  # strong patient effect
    score = 1 / (1 + np.exp(-(effect + 0.8 * (y - 0.5) + rng.normal(0, 0.3, len(y)))))
    p = np.stack([1 - score, score], axis=1)
    patients = np.repeat(np.array([f"p{i:05d}" for i in range(n_patients)]), per_patient)
    return y, p, patients


def test_ci_contains_point_estimate_and_shrinks_with_more_data() -> None:
    widths = []
    for n in (40, 400):
        y, p, patients = _clustered(n, 5, seed=n)
        value, (lo, hi) = _auroc_ci(y, p, patients)
        assert lo <= value <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2


def test_patient_bootstrap_is_wider_than_image_bootstrap_on_clustered_data() -> None:
    y, p, patients = _clustered(60, 10)
    _, (plo, phi) = _auroc_ci(y, p, patients)
    _, (ilo, ihi) = _auroc_ci(y, p, np.array([f"i{i:05d}" for i in range(len(y))]))
    assert (phi - plo) > 1.5 * (ihi - ilo)


def test_undefined_replicates_are_dropped_and_counted() -> None:
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    p = np.stack([1 - np.linspace(0, 1, 8), np.linspace(0, 1, 8)], axis=1)
    patients = np.array([f"p{i}" for i in range(8)])
    vals, _ = metrics_for("binary")[0].definitions["binary"][1](_ctx(y, p, patients, 300, 0))
    dropped = int(np.isnan(vals[1:]).sum())
    assert 0 < dropped < 300  # resamples without the one positive patient
    assert percentile_ci(vals[1:]) is not None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evaluator", *args], capture_output=True, text=True, cwd=ROOT)


def test_cli_score_json_validates_against_schema(bench_root, metas, tmp_path) -> None:
    path = good_submission(bench_root, metas, tmp_path / "s.zip")
    out = _cli("score", "--data-root", str(bench_root), "--benchmark", BENCH, "--predictions", str(path),
               "--bootstrap", "50", "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    score = json.loads(out.stdout)
    jsonschema.validate(score, SCHEMA)
    assert score["meta"]["seed"] == 3 and score["meta"]["replicates"] == 50


def test_cli_invalid_input_exits_2_without_traceback(bench_root, metas, tmp_path) -> None:
    path = tmp_path / "bad.zip"
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("derm-synth.csv", "image_id,nevus,melanoma,bcc\nfoo,abc,0.5,0.5\n")
    for cmd in ("score", "validate"):
        out = _cli(cmd, "--data-root", str(bench_root), "--benchmark", BENCH, "--predictions", str(path))
        assert out.returncode == 2
        assert "row 2: value 'abc' in column 'nevus' is not a number" in out.stderr
        assert "Traceback" not in out.stderr
    out = _cli("validate", "--data-root", str(bench_root), "--benchmark", "nope", "--predictions", str(path))
    assert out.returncode == 2 and "unknown benchmark 'nope'" in out.stderr


def test_cli_validate_ok(bench_root, metas, tmp_path) -> None:
    path = good_submission(bench_root, metas, tmp_path / "s.zip")
    out = _cli("validate", "--data-root", str(bench_root), "--benchmark", BENCH, "--predictions", str(path))
    assert out.returncode == 0 and "4 task file(s) valid" in out.stdout


def test_score_probabilities_accepts_hidden_image_tasks(bench_root, metas) -> None:
    meta = metas["ct-hidden"]
    ids = all_test_ids(bench_root, meta)
    probs = random_probs(np.random.default_rng(0), len(ids), meta)
    res = score_probabilities(bench_root, BENCH, {"ct-hidden": (ids, probs)}, bootstrap=20)
    jsonschema.validate(res.json, SCHEMA)
    value = res.json["tasks"]["ct-hidden"]["test_id"]["accuracy"]["value"]
    only = res.json["checkpoint_only"]
    assert only["complete"] is True and only["test_id"] == pytest.approx(value)
    lo, hi = only["ci"]["test_id"]
    assert lo <= value <= hi
    assert res.json["all_tasks"]["test_id"] == pytest.approx(value)
    assert res.json["overall"]["complete"] is False and res.json["overall"]["test_id"] is None
    assert res.json["all_tasks"]["complete"] is False


def test_a_benchmark_without_checkpoint_only_tasks_has_a_null_checkpoint_aggregate(metas) -> None:
    from evaluator.aggregate import aggregates

    shared = {s: m for s, m in metas.items() if m.test_images_public}
    sections = aggregates(shared, {}, {})
    assert sections["checkpoint_only"] is None
    assert sections["overall"]["complete"] is False and sections["overall"]["test_id"] is None
