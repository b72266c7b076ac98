"""Time whole-benchmark generation of the synthetic Med-VTAB-mini and measure its ID-OOD gap.

    python benchmarks/bench_generate.py              # 3 timed runs at scale=1, 64 px
    python benchmarks/bench_generate.py --gap        # also the per-task logistic-regression gap

Each run writes into a fresh temporary directory (nothing is skipped as already built). The gap
table trains logistic regression on 16x16 average-pooled pixels of ``train`` and scores ``test_id``
(unseen images of seen patients) and ``test_ood`` (unseen patients) with each task's primary metric.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasets.bundle import TaskMeta, load_split
from datasets.synthetic import build_benchmark


def machine() -> str:
    return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}")


def time_runs(keep: Path, runs: int, scale: float, size: int, seed: int
              ) -> tuple[list[float], Path, list[TaskMeta]]:
    times: list[float] = []
    metas: list[TaskMeta] = []
    for i in range(runs):
        root = keep / f"run{i}"
        start = time.perf_counter()
        metas = build_benchmark(root, seed=seed, image_size=size, scale=scale)
        times.append(time.perf_counter() - start)
        print(f"run {i + 1}/{runs}: {times[-1]:.2f} s", flush=True)
    return times, keep / f"run{runs - 1}", metas


def _pool(images: np.ndarray, cells: int = 16) -> np.ndarray:
    n, size = images.shape[0], images.shape[1]
    step = size // cells
    return images.reshape(n, cells, step, cells, step, -1).mean(axis=(2, 4)).reshape(n, -1) / 255


def probe(root: Path, meta: TaskMeta) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    splits = ("train", "test_id", "test_ood")
    data = {s: load_split(root, meta, s, hidden=True) for s in splits}
    feats = {s: _pool(np.asarray(d.images)) for s, d in data.items()}
    mean, std = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    x = {s: (f - mean) / std for s, f in feats.items()}
    y = {s: np.asarray(d.labels) for s, d in data.items()}
    if meta.label_type == "multilabel":
        per: dict[str, list[float]] = {s: [] for s in splits}
        for k in range(meta.num_classes):
            model = LogisticRegression(C=0.05, max_iter=1000).fit(x["train"], y["train"][:, k])
            for s in splits:
                per[s].append(float(roc_auc_score(y[s][:, k], model.predict_proba(x[s])[:, 1])))
        return {s: float(np.mean(v)) for s, v in per.items()}
    model = LogisticRegression(C=0.05, max_iter=1000).fit(x["train"], y["train"])
    if meta.label_type == "binary":
        return {s: float(roc_auc_score(y[s], model.predict_proba(x[s])[:, 1])) for s in splits}
    return {s: float((model.predict(x[s]) == y[s]).mean()) for s in splits}


def gap_table(root: Path, metas: list[TaskMeta]) -> None:
    warnings.filterwarnings("ignore", category=UserWarning)
    print("\n| task | modality | label type | metric | train | val | test_id | test_ood "
          "| LR test_id | LR test_ood | gap |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    gaps = []
    for meta in metas:
        scores = probe(root, meta)
        gap = scores["test_id"] - scores["test_ood"]
        gaps.append(gap)
        n = {s: meta.splits[s].n_images for s in meta.splits}
        print(f"| {meta.slug} | {meta.modality} | {meta.label_type} | {meta.primary_metric} "
              f"| {n['train']} | {n['val']} | {n['test_id']} | {n['test_ood']} "
              f"| {scores['test_id']:.3f} | {scores['test_ood']:.3f} | {gap:+.3f} |")
    print(f"\nmean ID-OOD gap: {np.mean(gaps):+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gap", action="store_true", help="also print the ID-OOD gap table")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="medvtab-bench-") as tmp:
        times, last, metas = time_runs(Path(tmp), args.runs, args.scale, args.image_size, args.seed)
        images = sum(s.n_images for m in metas for s in m.splits.values())
        print(f"median of {args.runs}: {statistics.median(times):.2f} s for {len(metas)} tasks, "
              f"{images} images at {args.image_size} px "
              f"(min {min(times):.2f}, max {max(times):.2f})")
        if args.gap:
            gap_table(last, metas)


if __name__ == "__main__":
    main()
