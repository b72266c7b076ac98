"""The findings statistics equal a recomputation written here with numpy alone, panels without
enough data say what they lack, and ties and NaN replicates are handled on purpose."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from evaluator.findings import FindingEntry, Group, GroupScore, findings

R = 400
GROUPS = [Group("xray", "X-ray")]


def _ci(v: np.ndarray) -> tuple[float, float]:
    v = v[~np.isnan(v)]
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


def _entry(
    i: int,
    *,
    family: str = "lora",
    method: str = "lora",
    config: str = "lora r=4",
    pretraining: str = "general",
    params: int | None = 1000,
    scores: Mapping[tuple[str, str], tuple[float | None, Any]],
) -> FindingEntry:
    return FindingEntry(
        id=i,
        label=f"{config} ({pretraining}, 1k)",
        method=method,
        family=family,
        config=config,
        pretraining=pretraining,
        protocol="1k",
        tunable_params=params,
        scores={k: GroupScore(v, vec) for k, (v, vec) in scores.items()},
    )


def _scores(rng: np.random.Generator, base: float, shift: np.ndarray) -> dict[Any, Any]:
    """overall and xray, both splits: value + shared (paired) resample noise + own noise."""
    out = {}
    for group in ("overall", "xray"):
        for split, offset in (("test_id", 0.0), ("test_ood", -0.05)):
            vec = base + offset + shift + rng.normal(0, 0.01, R)
            out[(group, split)] = (base + offset, vec)
    return out


@pytest.fixture
def sweep() -> list[FindingEntry]:
    rng = np.random.default_rng(7)
    shift = rng.normal(0, 0.03, R)  # the resample effect every submission shares
    entries: list[FindingEntry] = []
    for k, params in enumerate((10**3, 10**4, 10**5, 10**4)):
        for pre in ("general", "medical"):
            base = 0.6 + 0.03 * math.log10(params) + (0.02 if pre == "medical" else 0.0)
            config = f"lora r={params}"
            entries.append(
                _entry(
                    len(entries),
                    config=config,
                    pretraining=pre,
                    params=params,
                    scores=_scores(rng, base + 0.001 * k, shift),
                )
            )
    entries.append(
        _entry(
            99,
            family="moe",
            method="gmoe_adapter",
            config="gmoe_adapter E=4",
            pretraining="both",
            params=5 * 10**4,
            scores=_scores(rng, 0.9, shift),
        )
    )
    return entries


def _v(e: FindingEntry, group: str, split: str) -> float:
    value = e.scores[(group, split)].value
    assert value is not None
    return value


def _r(e: FindingEntry, group: str, split: str) -> np.ndarray:
    vec = e.scores[(group, split)].replicates
    assert vec is not None
    return vec


def _numpy_slope(x: np.ndarray, y: np.ndarray) -> Any:
    """np.polyfit per column: the least-squares slope, independently of the module."""
    if y.ndim == 1:
        return np.polyfit(x, y, 1)[0]
    out = np.full(y.shape[1], np.nan)
    ok = ~np.isnan(y).any(axis=0)
    out[ok] = np.polyfit(x, y[:, ok], 1)[0]
    return out


def test_scaling_slope_and_ci_equal_numpy(sweep: list[FindingEntry]) -> None:
    out = findings(sweep, GROUPS, "test_id", synthetic=False)
    lora = next(r for r in out["scaling"]["rows"] if r["family"] == "lora")
    items = [e for e in sweep if e.family == "lora"]
    x = np.log10([float(e.tunable_params or 0) for e in items])
    y = np.array([_v(e, "overall", "test_id") for e in items])
    reps = np.vstack([_r(e, "overall", "test_id") for e in items])
    assert lora["slope"] is not None and lora["sizes"] == 3
    assert lora["slope"]["value"] == pytest.approx(_numpy_slope(x, y), abs=1e-12)
    lo, hi = _ci(_numpy_slope(x, reps))
    assert (lora["slope"]["ci_low"], lora["slope"]["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    # the moe family has one size: said, not fitted
    moe = next(r for r in out["scaling"]["rows"] if r["family"] == "moe")
    assert moe["slope"] is None
    assert any("moe: 1 tunable-parameter size" in m for m in out["scaling"]["missing"])
    assert out["scaling"]["available"] and "lora: +" in out["scaling"]["sentence"]


def test_pretraining_difference_is_the_paired_mean(sweep: list[FindingEntry]) -> None:
    out = findings(sweep, GROUPS, "test_id", synthetic=False)
    row = next(r for r in out["pretraining"]["rows"] if r["group"] == "xray")
    configs = sorted({e.config for e in sweep if e.pretraining != "both"})
    diffs, vecs = [], []
    for c in configs:
        med = [e for e in sweep if e.config == c and e.pretraining == "medical"]
        gen = [e for e in sweep if e.config == c and e.pretraining == "general"]
        m = np.mean([_v(e, "xray", "test_id") for e in med])
        g = np.mean([_v(e, "xray", "test_id") for e in gen])
        mv = np.mean([_r(e, "xray", "test_id") for e in med], axis=0)
        gv = np.mean([_r(e, "xray", "test_id") for e in gen], axis=0)
        diffs.append(m - g)
        vecs.append(mv - gv)
    assert len(row["pairs"]) == 3  # r=10^4 has two entries of each kind: averaged, one pair
    assert row["difference"] is not None
    assert row["difference"]["value"] == pytest.approx(np.mean(diffs), abs=1e-12)
    lo, hi = _ci(np.mean(vecs, axis=0))
    assert row["difference"]["ci_low"] == pytest.approx(lo, abs=1e-12)
    assert row["difference"]["ci_high"] == pytest.approx(hi, abs=1e-12)
    assert row["difference"]["significant"] is (not lo <= 0 <= hi)


def test_ood_gap_and_its_slope_equal_numpy(sweep: list[FindingEntry]) -> None:
    out = findings(sweep, GROUPS, "test_id", synthetic=False)
    row = next(r for r in out["ood"]["rows"] if r["group"] == "overall")
    ids = np.array([_v(e, "overall", "test_id") for e in sweep])
    oods = np.array([_v(e, "overall", "test_ood") for e in sweep])
    idv = np.vstack([_r(e, "overall", "test_id") for e in sweep])
    oodv = np.vstack([_r(e, "overall", "test_ood") for e in sweep])
    assert row["gap"] is not None and row["entries"] == len(sweep)
    assert row["gap"]["value"] == pytest.approx(np.mean(ids - oods), abs=1e-12)
    assert (row["gap"]["ci_low"], row["gap"]["ci_high"]) == pytest.approx(
        _ci((idv - oodv).mean(axis=0)), abs=1e-12
    )
    x = np.log10([float(e.tunable_params or 0) for e in sweep])
    assert row["slope"] is not None
    assert row["slope"]["value"] == pytest.approx(_numpy_slope(x, ids - oods), abs=1e-12)
    assert (row["slope"]["ci_low"], row["slope"]["ci_high"]) == pytest.approx(
        _ci(_numpy_slope(x, idv - oodv)), abs=1e-12
    )


def test_gmoe_is_chosen_on_the_other_split_and_paired(sweep: list[FindingEntry]) -> None:
    out = findings(sweep, GROUPS, "test_id", synthetic=False)
    row = next(r for r in out["gmoe"]["rows"] if r["group"] == "overall")
    singles = [e for e in sweep if e.pretraining in ("general", "medical")]
    best = max(singles, key=lambda e: _v(e, "overall", "test_ood"))
    gmoe = next(e for e in sweep if e.method == "gmoe_adapter")
    assert row["chosen_on"] == "test_ood" and row["reported_on"] == "test_id"
    assert row["best"] is not None and row["best"]["id"] == best.id
    diff = _v(gmoe, "overall", "test_id") - _v(best, "overall", "test_id")
    assert row["difference"] is not None
    assert row["difference"]["value"] == pytest.approx(diff, abs=1e-12)
    vec = _r(gmoe, "overall", "test_id") - _r(best, "overall", "test_id")
    assert (row["difference"]["ci_low"], row["difference"]["ci_high"]) == pytest.approx(
        _ci(vec), abs=1e-12
    )
    assert "chosen on test_ood and reported on test_id" in out["gmoe"]["sentence"]


def test_too_few_entries_say_what_is_missing() -> None:
    rng = np.random.default_rng(0)
    one = [_entry(1, params=10, scores=_scores(rng, 0.7, np.zeros(R)))]
    out = findings(one, GROUPS, "test_id", synthetic=False)
    assert not out["scaling"]["available"]
    assert "no scaling slope" in out["scaling"]["sentence"]
    assert "lora: 1 tunable-parameter size, a slope needs 3" in out["scaling"]["missing"]
    assert not out["pretraining"]["available"]
    assert "no pair to compare" in out["pretraining"]["sentence"]
    assert not out["gmoe"]["available"]
    assert "no GMoE-Adapter entry" in out["gmoe"]["sentence"]
    empty = findings([], GROUPS, "test_ood", synthetic=True)
    for panel in ("scaling", "pretraining", "ood", "gmoe"):
        assert not empty[panel]["available"]
        assert empty[panel]["sentence"].startswith("Synthetic data: ")


def test_ci_containing_zero_reads_no_significant_difference() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.05, R)
    scores = {
        ("overall", "test_id"): (0.7, 0.7 + noise),
        ("overall", "test_ood"): (0.7, 0.7 - noise),
    }
    med = dict(scores)
    med[("overall", "test_id")] = (0.7, 0.7 + rng.normal(0, 0.05, R))  # equal point, unpaired noise
    entries = [
        _entry(1, pretraining="general", scores=scores),
        _entry(2, pretraining="medical", scores=med),
    ]
    out = findings(entries, [], "test_id", synthetic=False)
    row = out["pretraining"]["rows"][0]
    assert row["difference"] is not None and row["difference"]["significant"] is False
    assert "overall: no significant difference (+0.000" in out["pretraining"]["sentence"]


def test_nan_replicates_are_dropped_and_ties_broken_by_size() -> None:
    rng = np.random.default_rng(5)
    a = 0.8 + rng.normal(0, 0.01, R)
    b = 0.8 + rng.normal(0, 0.01, R)
    a[:10] = np.nan  # metric undefined on ten resamples of one entry
    tie = {("overall", "test_id"): (0.8, a), ("overall", "test_ood"): (0.75, a - 0.05)}
    tie2 = {("overall", "test_id"): (0.8, b), ("overall", "test_ood"): (0.75, b - 0.05)}
    gm = {("overall", "test_id"): (0.85, b + 0.05), ("overall", "test_ood"): (0.8, b)}
    entries = [
        _entry(1, params=5000, scores=tie),
        _entry(2, params=100, pretraining="medical", scores=tie2),
        _entry(3, method="gmoe_adapter", pretraining="both", family="moe", scores=gm),
    ]
    out = findings(entries, [], "test_id", synthetic=False)
    row = out["gmoe"]["rows"][0]
    assert row["best"] is not None and row["best"]["id"] == 2  # tied on test_ood: fewer params
    assert row["tied_on_selection"] == 1
    assert "tied with 1 other(s) on test_ood" in out["gmoe"]["sentence"]
    gap = out["ood"]["rows"][0]["gap"]
    assert gap is not None and gap["replicates_used"] == R - 10
    expected = np.mean([a - (a - 0.05), b - (b - 0.05), (b + 0.05) - b], axis=0)
    assert (gap["ci_low"], gap["ci_high"]) == pytest.approx(_ci(expected), abs=1e-12)


def test_undefined_values_and_missing_vectors_never_invent_a_ci() -> None:
    no_vec = {("overall", "test_id"): (0.7, None), ("overall", "test_ood"): (None, None)}
    all_nan = {("overall", "test_id"): (0.6, np.full(R, np.nan))}
    entries = [
        _entry(1, pretraining="general", scores=no_vec),
        _entry(2, pretraining="medical", scores=all_nan),
    ]
    out = findings(entries, [], "test_id", synthetic=False)
    diff = out["pretraining"]["rows"][0]["difference"]
    assert diff is not None and diff["value"] == pytest.approx(-0.1)
    assert diff["ci_low"] is None and diff["significant"] is None
    assert "no CI" in out["pretraining"]["sentence"]
    assert out["ood"]["rows"][0]["gap"] is None  # no entry with both splits
    assert "No entry has both test_id and test_ood" in out["ood"]["sentence"]
