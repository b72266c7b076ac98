"""Every registered metric equals its scikit-learn call (docs/formats.md, "Metrics") to 1e-9, on every kind of input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    roc_auc_score,
)

from evaluator.bootstrap import PatientIndex
from evaluator.metrics import (
    METRICS,
    METRICS_BY_LABEL_TYPE,
    SplitContext,
    metrics_for,
    primary_metric,
)

K_BY_TYPE = {"multiclass": 4, "ordinal": 3, "binary": 2, "multilabel": 4}
KINDS = ("random", "tied", "separable", "constant", "degenerate", "absent_class")
CASES = [
    (name, label_type)
    for label_type, names in METRICS_BY_LABEL_TYPE.items()
    for name in names
]


def make_data(kind: str, label_type: str, n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = K_BY_TYPE[label_type]
    if label_type == "multilabel":
        y = (rng.random((n, k)) < 0.5).astype(np.uint8)
        y[0], y[1] = 0, 1  # every label has both values
        p = rng.random((n, k))
        if kind == "tied":
            p = np.round(p * 2) / 4  # values 0, .25, .5 only: many ties and exact 0.5s
        elif kind == "separable":
            p = np.where(y == 1, 0.6 + 0.4 * p, 0.4 * p)
        elif kind == "constant":
            p = np.full((n, k), 0.3)
        elif kind in ("degenerate", "absent_class"):
            y[:, 1] = 1  # label 'l1' has a single value
            if kind == "degenerate":
                y[:, :] = 0  # no label has both values
        return y, p
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    p = rng.dirichlet(np.ones(k), n)
    if kind == "tied":
        p = np.round(p * 4) + 1.0  # coarse values: ties in scores and in argmax
        p[:5] = 1.0  # rows with every class tied: argmax must pick class 0
    elif kind == "separable":
        p = 0.1 * p + np.eye(k)[y]
    elif kind == "constant":
        p = np.ones((n, k))
    elif kind == "degenerate":
        y[:] = 1
    elif kind == "absent_class":
        y[y == k - 1] = 0
    p = p / p.sum(axis=1, keepdims=True)
    return y, p


def sklearn_value(name: str, label_type: str, y: np.ndarray, p: np.ndarray) -> float | None:
    k = p.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if label_type == "multilabel":
            hard = (p > 0.5).astype(int)
            if name == "accuracy":
                return float(((p > 0.5) == y).mean())
            if name == "macro_f1":
                return float(f1_score(y, hard, average="macro", zero_division=0))
            aucs = [roc_auc_score(y[:, j], p[:, j]) for j in range(k) if len(np.unique(y[:, j])) == 2]
            return float(np.mean(aucs)) if aucs else None
        if label_type == "binary":
            p1 = p[:, 1]
            calls = {
                "accuracy": lambda: accuracy_score(y, p1 > 0.5),
                "balanced_accuracy": lambda: balanced_accuracy_score(y, p1 > 0.5),
                "f1": lambda: f1_score(y, p1 > 0.5, zero_division=0),
                "auroc": lambda: roc_auc_score(y, p1),
            }
        else:
            pred = p.argmax(1)
            calls = {
                "accuracy": lambda: accuracy_score(y, pred),
                "balanced_accuracy": lambda: balanced_accuracy_score(y, pred),
                "macro_f1": lambda: f1_score(
                    y, pred, average="macro", labels=range(k), zero_division=0
                ),
                "auroc": lambda: roc_auc_score(
                    y, p, multi_class="ovr", average="macro", labels=range(k)
                ),
            }
        try:
            value = float(calls[name]())
        except ValueError:  # sklearn refuses: the metric is undefined
            return None
        # Recent scikit-learn returns NaN (with a warning) instead of raising for one class.
        return None if np.isnan(value) else value


def context(label_type: str, y: np.ndarray, p: np.ndarray, counts: np.ndarray | None = None,
            patients: np.ndarray | None = None) -> SplitContext:
    k = p.shape[1]
    pid = patients if patients is not None else np.arange(len(y))
    index = PatientIndex.from_ids(pid)
    c = counts if counts is not None else np.ones((1, index.n_patients))
    classes = tuple(f"l{i}" for i in range(k))
    return SplitContext(label_type, classes, "test_id", y, p, index, c)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("name", "label_type"), CASES)
def test_metric_equals_sklearn(name: str, label_type: str, kind: str) -> None:
    y, p = make_data(kind, label_type)
    metric = METRICS.get(name)
    values, reason = metric.definitions[label_type][1](context(label_type, y, p))
    expected = sklearn_value(name, label_type, y, p)
    if expected is None:
        assert np.isnan(values[0])
        assert reason  # an undefined metric always says why
    else:
        assert values[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("name", "label_type"), CASES)
def test_replicates_equal_sklearn_on_the_resampled_data(name: str, label_type: str) -> None:
    y, p = make_data("tied", label_type, n=48, seed=3)
    patients = np.repeat(np.array([f"p{q:02d}" for q in range(12)]), 4)  # 12 patients x 4 images
    rng = np.random.default_rng(7)
    draws = rng.integers(0, 12, (5, 12))
    counts = np.stack([np.bincount(d, minlength=12) for d in draws]).astype(float)
    metric = METRICS.get(name)
    values, _ = metric.definitions[label_type][1](context(label_type, y, p, counts, patients))
    for r, draw in enumerate(draws):
        rows = np.concatenate([np.flatnonzero(patients == f"p{q:02d}") for q in draw])
        expected = sklearn_value(name, label_type, y[rows], p[rows])
        if expected is None:
            assert np.isnan(values[r])
        else:
            assert values[r] == pytest.approx(expected, abs=1e-9)


def test_registry_declares_the_design_table() -> None:
    assert primary_metric("multiclass") == "accuracy"
    assert primary_metric("ordinal") == "accuracy"
    assert primary_metric("binary") == "auroc"
    assert primary_metric("multilabel") == "auroc"
    assert [m.name for m in metrics_for("binary")] == ["auroc", "accuracy", "balanced_accuracy", "f1"]
    assert all(METRICS.get(n).higher_is_better for n in METRICS)
    assert set(METRICS.get("f1").label_types) == {"binary"}
    assert set(METRICS.get("macro_f1").label_types) == {"multiclass", "ordinal", "multilabel"}


def test_multilabel_auroc_names_the_left_out_labels() -> None:
    y, p = make_data("absent_class", "multilabel")
    values, reason = METRICS.get("auroc").definitions["multilabel"][1](context("multilabel", y, p))
    assert not np.isnan(values[0])
    assert reason is not None and "'l1'" in reason and "left out" in reason


def test_multiclass_auroc_reason_names_the_absent_class() -> None:
    y, p = make_data("absent_class", "multiclass")
    values, reason = METRICS.get("auroc").definitions["multiclass"][1](context("multiclass", y, p))
    assert np.isnan(values[0])
    assert reason is not None and "'l3'" in reason


def test_argmax_ties_go_to_the_lowest_index() -> None:
    y = np.array([0, 1, 2])
    p = np.full((3, 3), 1 / 3)
    values, _ = METRICS.get("accuracy").definitions["multiclass"][1](context("multiclass", y, p))
    assert values[0] == pytest.approx(1 / 3)


def test_binary_half_is_negative() -> None:
    y = np.array([1, 0])
    p = np.array([[0.5, 0.5], [0.5, 0.5]])
    values, _ = METRICS.get("accuracy").definitions["binary"][1](context("binary", y, p))
    assert values[0] == pytest.approx(0.5)
