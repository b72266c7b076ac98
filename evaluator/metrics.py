"""The metric registry (docs/formats.md, "Metrics"): names, direction, label types, primary metric, definitions.

Each metric is computed for the point estimate and all bootstrap replicates at once from a
:class:`SplitContext`; it returns a vector (row 0 = point estimate) with NaN where undefined, and a
reason (for the point estimate) when it is undefined or when labels were left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from datasets.registry import Registry
from evaluator.auroc import auroc_replicates
from evaluator.bootstrap import PatientIndex

MetricFn = Callable[["SplitContext"], tuple[np.ndarray, str | None]]


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    # label type -> (the scikit-learn expression it equals, implementation)
    definitions: dict[str, tuple[str, MetricFn]] = field(default_factory=dict)

    @property
    def label_types(self) -> tuple[str, ...]:
        return tuple(self.definitions)


METRICS: Registry[Metric] = Registry("metric")
# Table order, primary first (docs/formats.md, "Metrics"). Ordinal tasks are scored as multiclass.
METRICS_BY_LABEL_TYPE: dict[str, tuple[str, ...]] = {
    "multiclass": ("accuracy", "balanced_accuracy", "auroc", "macro_f1"),
    "binary": ("auroc", "accuracy", "balanced_accuracy", "f1"),
    "multilabel": ("auroc", "accuracy", "macro_f1"),
}
METRICS_BY_LABEL_TYPE["ordinal"] = METRICS_BY_LABEL_TYPE["multiclass"]


def metrics_for(label_type: str) -> list[Metric]:
    return [METRICS.get(n) for n in METRICS_BY_LABEL_TYPE[label_type]]


def primary_metric(label_type: str) -> str:
    return METRICS_BY_LABEL_TYPE[label_type][0]


def scoring_type(label_type: str) -> str:
    return "multiclass" if label_type == "ordinal" else label_type


@dataclass
class SplitContext:
    """One hidden split of one task, with the submission's renormalised probabilities."""

    label_type: str
    classes: tuple[str, ...]
    split: str
    labels: np.ndarray  # int (N,) or 0/1 (N, K) for multilabel
    probs: np.ndarray  # (N, K)
    patients: PatientIndex
    counts: np.ndarray  # (rows, P) draw counts; row 0 is the point estimate (all ones)

    @property
    def k(self) -> int:
        return len(self.classes)

    @cached_property
    def truth(self) -> np.ndarray:
        """(N, K) boolean: image is of class / has label."""
        if self.labels.ndim == 2:
            return self.labels.astype(bool)
        return self.labels[:, None] == np.arange(self.k)[None, :]

    @cached_property
    def predicted(self) -> np.ndarray:
        """(N, K) boolean hard predictions: argmax (ties → lowest index), p1 > 0.5, or p > 0.5."""
        kind = scoring_type(self.label_type)
        if kind == "multiclass":
            return np.argmax(self.probs, axis=1)[:, None] == np.arange(self.k)[None, :]
        if kind == "binary":
            pos = self.probs[:, 1] > 0.5
            return np.stack([~pos, pos], axis=1)
        return self.probs > 0.5

    @cached_property
    def point_only(self) -> bool:
        """Each image once and no replicates: every weighted count is a plain count."""
        return self.counts.shape[0] == 1 and bool(np.all(self.counts == 1.0))

    @cached_property
    def hard_labels(self) -> np.ndarray:
        """(N,) predicted class for single-label tasks: argmax (ties → lowest) or p1 > 0.5."""
        if scoring_type(self.label_type) == "binary":
            return (self.probs[:, 1] > 0.5).astype(np.int64)
        return np.argmax(self.probs, axis=1)

    @cached_property
    def tallies(self) -> dict[str, np.ndarray]:
        """Weighted counts per row: n, and per class tp / true / predicted (/ agree, multilabel)."""
        k, pp = self.k, self.patients
        if self.labels.ndim == 2:
            t, p = self.truth, self.predicted
            per_patient = pp.sums(np.hstack([np.ones((len(t), 1)), t & p, t, p, t == p]))
            if self.point_only:
                per_patient = per_patient.sum(axis=0, keepdims=True)
        else:
            # Single-label: per (patient, class) counts by bincount, no N x K matrices.
            y, pred = self.labels.astype(np.int64), self.hard_labels
            cells = pp.n_patients * k
            base = pp.patient.astype(np.int64) * k

            def per_class(index: np.ndarray) -> np.ndarray:
                return np.bincount(index, minlength=cells).reshape(pp.n_patients, k)

            if self.point_only:  # totals directly; no per-patient matrix needed
                per_patient = np.concatenate([
                    [len(y)], np.bincount(y[y == pred], minlength=k), np.bincount(y, minlength=k),
                    np.bincount(pred, minlength=k),
                ]).astype(np.float64)[None, :]
            else:
                per_patient = np.hstack([
                    np.bincount(pp.patient, minlength=pp.n_patients)[:, None],
                    per_class((base + y)[y == pred]), per_class(base + y), per_class(base + pred),
                ]).astype(np.float64)
        totals = per_patient if self.point_only else self.counts @ per_patient
        out = {
            "n": totals[:, 0], "tp": totals[:, 1:k + 1], "true": totals[:, k + 1:2 * k + 1],
            "pred": totals[:, 2 * k + 1:3 * k + 1],
        }
        if self.labels.ndim == 2:
            out["agree"] = totals[:, 3 * k + 1:]
        return out

    @cached_property
    def auroc_per_class(self) -> np.ndarray:
        """(rows, K) one-vs-rest AUROC (binary: column 1 is the task's AUROC)."""
        return auroc_replicates(self.probs, self.truth, self.patients.patient, self.counts)

    def names(self, mask: np.ndarray) -> str:
        return ", ".join(f"'{c}'" for c, m in zip(self.classes, mask, strict=True) if m)


def point_context(
    label_type: str, classes: tuple[str, ...], labels: np.ndarray, probs: np.ndarray,
    split: str = "test_id",
) -> SplitContext:
    """A context for point estimates only (no bootstrap): each image weighs 1."""
    index = PatientIndex.per_image(len(labels))
    return SplitContext(
        label_type, classes, split, labels, probs, index, np.ones((1, index.n_patients))
    )


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _empty_reason(ctx: SplitContext, values: np.ndarray) -> str | None:
    return f"{ctx.split} has no images" if np.isnan(values[0]) else None


def _f1(ctx: SplitContext) -> np.ndarray:
    t = ctx.tallies
    den = t["true"] + t["pred"]
    # zero_division=0: a class never true and never predicted scores 0.
    return np.where(den > 0, _div(2 * t["tp"], den), 0.0)


def accuracy_argmax(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    t = ctx.tallies
    values = _div(t["tp"].sum(axis=1), t["n"])
    return values, _empty_reason(ctx, values)


def accuracy_multilabel(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    t = ctx.tallies
    values = _div(t["agree"].sum(axis=1), t["n"] * ctx.k)
    return values, _empty_reason(ctx, values)


def balanced_accuracy(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    t = ctx.tallies
    recall = _div(t["tp"], t["true"])  # classes absent from y are NaN and left out, as sklearn
    present = ~np.isnan(recall)
    total = np.where(present, recall, 0.0).sum(axis=1)
    values = _div(total, present.sum(axis=1).astype(np.float64))
    return values, _empty_reason(ctx, values)


def macro_f1(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    values = _f1(ctx).mean(axis=1)
    values[ctx.tallies["n"] == 0] = np.nan
    return values, _empty_reason(ctx, values)


def binary_f1(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    values = _f1(ctx)[:, 1]
    values[ctx.tallies["n"] == 0] = np.nan
    return values, _empty_reason(ctx, values)


def _one_class_reason(ctx: SplitContext) -> str | None:
    true = ctx.tallies["true"][0]
    if true.sum() == 0:
        return f"{ctx.split} has no images"
    absent = true == 0
    if absent.any():
        return (
            f"class(es) {ctx.names(absent)} do not occur in {ctx.split}; AUROC needs every class "
            "to occur"
        )
    return None


def auroc_binary(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    # Only the positive class's column is needed (roc_auc_score(y, p1)).
    values = auroc_replicates(
        ctx.probs[:, 1:2], ctx.truth[:, 1:2], ctx.patients.patient, ctx.counts
    )[:, 0]
    return values, _one_class_reason(ctx) if np.isnan(values[0]) else None


def auroc_multiclass(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    # sklearn raises when a class is absent: the whole macro average is undefined then.
    values = ctx.auroc_per_class.mean(axis=1)
    return values, _one_class_reason(ctx) if np.isnan(values[0]) else None


def auroc_multilabel(ctx: SplitContext) -> tuple[np.ndarray, str | None]:
    per_label = ctx.auroc_per_class
    defined = ~np.isnan(per_label)
    n_defined = defined.sum(axis=1)
    values = _div(np.where(defined, per_label, 0.0).sum(axis=1), n_defined.astype(np.float64))
    if ctx.tallies["n"][0] == 0:
        return values, f"{ctx.split} has no images"
    left_out = ~defined[0]
    if left_out.all():
        return values, f"no label has both values in {ctx.split}; AUROC is undefined"
    if left_out.any():
        return values, (
            f"label(s) {ctx.names(left_out)} have a single value in {ctx.split} and are left "
            "out of the mean"
        )
    return values, None


def _register(name: str, higher: bool, defs: dict[str, tuple[str, MetricFn]]) -> None:
    if "multiclass" in defs:
        defs["ordinal"] = defs["multiclass"]
    METRICS.register(name, Metric(name, higher, defs))


_register("accuracy", True, {
    "multiclass": ("accuracy_score(y, p.argmax(1))", accuracy_argmax),
    "binary": ("accuracy_score(y, p1 > 0.5)", accuracy_argmax),
    "multilabel": ("((p > 0.5) == y).mean()", accuracy_multilabel),
})
_register("balanced_accuracy", True, {
    "multiclass": ("balanced_accuracy_score(y, p.argmax(1))", balanced_accuracy),
    "binary": ("balanced_accuracy_score(y, p1 > 0.5)", balanced_accuracy),
})
_register("auroc", True, {
    "multiclass": (
        'roc_auc_score(y, p, multi_class="ovr", average="macro", labels=range(K))',
        auroc_multiclass,
    ),
    "binary": ("roc_auc_score(y, p1)", auroc_binary),
    "multilabel": ("mean over labels of roc_auc_score(y[:, k], p[:, k])", auroc_multilabel),
})
_register("macro_f1", True, {
    "multiclass": (
        'f1_score(y, p.argmax(1), average="macro", labels=range(K), zero_division=0)', macro_f1
    ),
    "multilabel": ('f1_score(y, p > 0.5, average="macro", zero_division=0)', macro_f1),
})
_register("f1", True, {"binary": ("f1_score(y, p1 > 0.5, zero_division=0)", binary_f1)})
