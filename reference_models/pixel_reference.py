"""The pixel-level logistic-regression reference (docs/methods.md, "Pixel reference").

Images in [0, 1], average-pooled per channel to a 16 x 16 grid, standardised with the protocol's
``train`` statistics, then logistic regression: multinomial for multiclass and ordinal tasks, binary
for binary ones, one binary model per label for multilabel ones. The regularisation ``C`` is
chosen on the protocol's ``val`` split by the task's primary metric (ties go to the smaller ``C``);
the model is trained on the protocol's ``train`` split only. Test images go in, probabilities come
out; test labels are never read (:func:`read_test_images` reads the image arrays alone), so the
server's scorer is the only thing that sees them.

scikit-learn is a worker dependency: it is imported inside the functions that fit, so importing
this module costs nothing where it is absent.

    python -m reference_models.pixel_reference --data-root var/data --benchmark med-vtab-mini \
        --protocol 1k
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasets.bundle import TEST_SPLITS, BundleError, TaskMeta, list_tasks, task_dir
from datasets.export import public_task
from reference_models.taskdata import training_arrays

POOL_CELLS = 16
C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
MAX_ITER = 1000
POOL_BATCH = 512  # images converted to float at a time: a full split never is at once
# The scorer's primary metric per label type (evaluator.metrics.primary_metric; a test keeps the
# two equal). This package may not import the evaluator, which sits above it.
PRIMARY_METRIC = {"multiclass": "accuracy", "ordinal": "accuracy", "binary": "auroc",
                  "multilabel": "auroc"}

Outputs = tuple[np.ndarray, np.ndarray]  # (image ids, probabilities N x K in class order)


def _edges(size: int, cells: int) -> np.ndarray:
    """Start index of each pooling cell along an axis of ``size`` pixels (uneven when ``cells``
    does not divide ``size``; every cell non-empty)."""
    return (np.arange(cells) * size) // cells


def pool_images(images: np.ndarray, cells: int = POOL_CELLS) -> np.ndarray:
    """(N, H, W[, C]) uint8 → (N, cells * cells * C) float32 per-channel means in [0, 1]. Images
    smaller than ``cells`` pixels are pooled to their own size (one cell per pixel)."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise BundleError(f"images must be (N, H, W) or (N, H, W, C), not shape {images.shape}")
    n, h, w, c = images.shape
    ch, cw = min(cells, h), min(cells, w)
    rows, cols = _edges(h, ch), _edges(w, cw)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
    out = np.empty((n, ch * cw * c), dtype=np.float32)
    for start in range(0, n, POOL_BATCH):
        x = np.asarray(images[start:start + POOL_BATCH], dtype=np.float32) / 255.0
        sums = np.add.reduceat(np.add.reduceat(x, rows, axis=1), cols, axis=2)
        out[start:start + len(x)] = (sums / counts[None, :, :, None]).reshape(len(x), -1)
    return out


@dataclass(frozen=True)
class Standardiser:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Standardiser:
        std = features.std(axis=0)
        # a constant feature (a blank border) carries nothing: divide by 1, not by 0
        return cls(features.mean(axis=0), np.where(std > 1e-8, std, 1.0))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return np.asarray((features - self.mean) / self.std, dtype=np.float64)


class _Constant:
    """What a logistic regression would learn from one class: that class, always."""

    def __init__(self, label: int) -> None:
        self.classes_ = np.array([label])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.ones((len(x), 1))


def _fit_one(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    labels = np.unique(y)
    if len(labels) < 2:
        return _Constant(int(labels[0]) if len(labels) else 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # lbfgs at MAX_ITER is good enough
        return LogisticRegression(C=c, max_iter=MAX_ITER).fit(x, y)


def _columns(model: Any, x: np.ndarray, k: int) -> np.ndarray:
    """Probabilities in class order 0..k-1; a class absent from the training labels gets 0."""
    probs = np.zeros((len(x), k))
    probs[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x)
    return probs


@dataclass
class PixelModel:
    """The fitted reference of one task at one ``C``."""

    label_type: str
    num_classes: int
    scaler: Standardiser
    models: list[Any]  # one, or one per label (multilabel)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(N, K) probabilities from images alone: rows sum to one except for multilabel tasks,
        whose columns are each label's own probability."""
        return self.proba_features(self.scaler(pool_images(images)))

    def proba_features(self, x: np.ndarray) -> np.ndarray:
        """:meth:`predict_proba` of standardised pooled features."""
        if self.label_type == "multilabel":
            return np.stack([_columns(m, x, 2)[:, 1] for m in self.models], axis=1)
        return _columns(self.models[0], x, self.num_classes)

    @property
    def n_params(self) -> int:
        """Trained weights and biases: (D + 1) per class (binary: one set), the standardisation
        statistics not counted (they are not trained)."""
        d = len(self.scaler.mean)
        sets = 1 if self.label_type == "binary" else self.num_classes
        return sets * (d + 1)


def fit_model(
    label_type: str, num_classes: int, features: np.ndarray, labels: np.ndarray, c: float,
    scaler: Standardiser,
) -> PixelModel:
    x, y = scaler(features), np.asarray(labels)
    if label_type == "multilabel":
        if y.ndim != 2 or y.shape[1] != num_classes:
            raise BundleError(f"multilabel labels must be (N, {num_classes}), not {y.shape}")
        models = [_fit_one(x, y[:, k].astype(np.int64), c) for k in range(num_classes)]
    else:
        models = [_fit_one(x, y.reshape(-1).astype(np.int64), c)]
    return PixelModel(label_type, num_classes, scaler, models)


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else math.nan


def val_score(label_type: str, labels: np.ndarray, probs: np.ndarray) -> float:
    """The primary metric on ``val`` (NaN where undefined, e.g. one class only)."""
    y = np.asarray(labels)
    if PRIMARY_METRIC[label_type] == "accuracy":
        return float((probs.argmax(axis=1) == y.reshape(-1)).mean()) if len(y) else math.nan
    if label_type == "binary":
        return _auroc(y.reshape(-1), probs[:, 1])
    per_label = [_auroc(y[:, k], probs[:, k]) for k in range(y.shape[1])]
    defined = [v for v in per_label if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


@dataclass
class Selection:
    """The chosen ``C``, its model and every ``C``'s validation score."""

    c: float
    model: PixelModel
    scores: dict[float, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return self.scores[self.c]


def select_and_fit(
    label_type: str,
    num_classes: int,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    grid: Sequence[float] = C_GRID,
) -> Selection:
    """Fit on ``train`` at every ``C`` of ``grid``, keep the best on ``val`` (ties and undefined
    scores: the smaller ``C``, the stronger regularisation)."""
    if label_type not in PRIMARY_METRIC:
        raise BundleError(f"unknown label type {label_type!r}")
    if not grid:
        raise ValueError("the C grid is empty")
    features = pool_images(train[0])
    val_features = pool_images(val[0])
    scaler = Standardiser.fit(features)
    best: Selection | None = None
    scores: dict[float, float] = {}
    x_val = scaler(val_features)
    for c in sorted(grid):
        model = fit_model(label_type, num_classes, features, train[1], c, scaler)
        scores[c] = val_score(label_type, val[1], model.proba_features(x_val))
        if best is None or (not math.isnan(scores[c]) and not scores[c] <= best.score):
            best = Selection(c, model, scores)
    assert best is not None
    return best


def read_test_images(root: Path | str, meta: TaskMeta, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(image ids, images) of a test split, from the hidden tree when the images are hidden.
    Only these two arrays are opened: the labels beside them are never read."""
    tree = "public" if meta.test_images_public else "hidden"
    base = task_dir(root, tree, meta.benchmark, meta.slug) / split
    paths = [base / "image_ids.npy", base / "images.npy"]
    for path in paths:
        if not path.is_file():
            raise BundleError(f"missing bundle file {path}")
    ids = np.load(paths[0], allow_pickle=False)
    return ids, np.load(paths[1], allow_pickle=False, mmap_mode="r")


@dataclass
class TaskReference:
    slug: str
    selection: Selection
    outputs: Outputs  # test_id then test_ood, as the checkpoint track's model outputs


def task_reference(root: Path | str, meta: TaskMeta, protocol: str) -> TaskReference:
    train, val = training_arrays(public_task(root, meta), protocol)
    selection = select_and_fit(meta.label_type, meta.num_classes, train, val)
    ids, probs = [], []
    for split in TEST_SPLITS:
        split_ids, images = read_test_images(root, meta, split)
        ids.append(np.asarray(split_ids))
        probs.append(selection.model.predict_proba(images) if len(split_ids) else
                     np.zeros((0, meta.num_classes)))
    return TaskReference(meta.slug, selection, (np.concatenate(ids), np.concatenate(probs)))


def benchmark_reference(root: Path | str, benchmark: str, protocol: str) -> list[TaskReference]:
    """Every task of the benchmark; ``outputs`` in the shape the scorer's
    ``score_probabilities`` takes."""
    metas = list_tasks(root, benchmark)
    if not metas:
        raise BundleError(f"no tasks in benchmark {benchmark!r} under {root}")
    return [task_reference(root, meta, protocol) for meta in metas]


def mean_params(refs: Sequence[TaskReference]) -> int:
    """The mean over tasks of the trained parameter count (as a checkpoint's verified count)."""
    return round(sum(r.selection.model.n_params for r in refs) / max(len(refs), 1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--protocol", choices=("1k", "full"), default="1k")
    args = parser.parse_args(argv)
    try:
        refs = benchmark_reference(args.data_root, args.benchmark, args.protocol)
    except BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| task | C | val (primary) | parameters |")
    print("|---|---|---|---|")
    for r in refs:
        print(f"| {r.slug} | {r.selection.c:g} | {r.selection.score:.4f} "
              f"| {r.selection.model.n_params:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
