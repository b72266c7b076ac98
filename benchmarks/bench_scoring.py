"""Scoring benchmarks on a pinned workload (see docs/performance.md).

(a) point metrics on 1,000,000 rows x 10 classes: the evaluator vs the four scikit-learn calls;
(b) a predictions zip for 6 tasks x 50,000 test images (25,000 test_id + 25,000 test_ood, 5 classes,
    ~10 images per patient) scored end to end with a 1,000-replicate patient bootstrap.

Run: ``python benchmarks/bench_scoring.py [--only a|b] [--profile]``. Needs scikit-learn for (a).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets.bundle import SplitData, TaskMeta, write_task
from evaluator.csvreader import parse_csv
from evaluator.metrics import metrics_for, point_context
from evaluator.scoring import score_predictions_file

SEED = 20240601
N_TASKS, N_SPLIT, K, PER_PATIENT = 6, 25_000, 5, 10


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_point_metrics(n: int = 1_000_000, k: int = 10) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(SEED)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)

    def ours() -> list[float]:
        ctx = point_context("multiclass", tuple(f"c{i}" for i in range(k)), y, p)
        return [float(m.definitions["multiclass"][1](ctx)[0][0]) for m in metrics_for("multiclass")]

    def sklearn() -> list[float]:
        pred = p.argmax(1)
        return [
            accuracy_score(y, pred), balanced_accuracy_score(y, pred),
            roc_auc_score(y, p, multi_class="ovr", average="macro", labels=range(k)),
            f1_score(y, pred, average="macro", labels=range(k), zero_division=0),
        ]

    a, b = ours(), sklearn()
    assert np.allclose(a, b, atol=1e-9, rtol=0), (a, b)
    t_ours, t_sk = best_of(ours), best_of(sklearn)
    return {"rows": n, "classes": k, "ours_s": t_ours, "sklearn_s": t_sk, "ratio": t_ours / t_sk}


def build_workload(root: Path) -> tuple[Path, list[bytes]]:
    rng = np.random.default_rng(SEED)
    members: dict[str, bytes] = {}
    classes = tuple(f"class_{i}" for i in range(K))
    for t in range(N_TASKS):
        slug = f"bench-task-{t}"
        meta = TaskMeta(
            slug=slug, name=slug, benchmark="bench", modality=f"mod{t % 3}", organ="x",
            label_type="multiclass", classes=classes, image_size=8, channels=1,
            primary_metric="accuracy", version="1", source="bench", license="CC0", citation="",
            test_images_public=True, ood_level="patient", synthetic=True,
        )
        splits = {}
        for split, n in (("train", 20), ("val", 10), ("test_id", N_SPLIT), ("test_ood", N_SPLIT)):
            splits[split] = SplitData(
                images=np.zeros((n, 8, 8, 1), np.uint8),
                image_ids=np.array([f"{slug}-{split}-{i:06d}" for i in range(n)]),
                labels=rng.integers(0, K, n),
                patient_ids=np.array([f"{split}-p{i // PER_PATIENT:05d}" for i in range(n)]),
            )
        write_task(root, meta, splits)
        ids = np.concatenate([splits["test_id"].image_ids, splits["test_ood"].image_ids])
        probs = rng.dirichlet(np.ones(K), len(ids))
        buf = io.StringIO()
        buf.write("image_id," + ",".join(classes) + "\n")
        body = np.column_stack([ids, np.char.mod("%.8f", probs)])
        buf.write("\n".join(",".join(r) for r in body) + "\n")
        members[f"{slug}.csv"] = buf.getvalue().encode()
    path = root / "predictions.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path, list(members.values())


def bench_end_to_end(profile: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path, csvs = build_workload(root)
        t_parse = best_of(lambda: [parse_csv(c, "x.csv") for c in csvs])

        def score() -> dict:
            return score_predictions_file(root, "bench", path, bootstrap=1000, seed=0).json

        score()  # warm the resample cache exactly as a long-lived worker would have it
        t_warm = best_of(score, repeat=2)
        from evaluator import bootstrap

        def cold() -> dict:
            bootstrap._CACHE.clear()
            return score()

        t_cold = best_of(cold, repeat=2)
        tracemalloc.start()
        cold()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if profile:
            prof = cProfile.Profile()
            prof.runcall(cold)
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
            print(out.getvalue())
        return {
            "tasks": N_TASKS, "images_per_task": 2 * N_SPLIT, "classes": K,
            "zip_mb": path.stat().st_size / 1e6, "end_to_end_s": t_cold,
            "end_to_end_warm_cache_s": t_warm, "csv_parse_s": t_parse,
            "ratio_to_parse": t_cold / t_parse, "peak_mem_mb": peak / 1e6,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("a", "b"))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    results = {}
    if args.only in (None, "a"):
        results["a_point_metrics"] = bench_point_metrics()
    if args.only in (None, "b"):
        results["b_end_to_end"] = bench_end_to_end(args.profile)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
