"""Leaderboard page speed with 10,000 submissions (see docs/performance.md).

Builds, in a fresh PostgreSQL test database, a 6-task benchmark (3 modalities) with N public
scored submissions (default 10,000: Result rows for 6 tasks x 2 splits x 2 metrics, Aggregate rows,
replicate vectors) and a copy with 10 submissions, runs the real board recompute on both, then
times the overall board's first page (50 rows) in-process through the whole Django stack
(middleware, view, template), cache miss (cache cleared before each request) and cache hit
separately, and counts its queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench SECRET_KEY=x \\
        python benchmarks/bench_leaderboard.py [--submissions 10000] [--repeats 40]

Targets (issue 7): miss p95 <= 150 ms, hit p95 <= 20 ms, miss(N) / miss(10) <= 3.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medvtab.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_databases,
    setup_test_environment,
    teardown_databases,
)
from django.utils import timezone  # noqa: E402

from evaluator.aggregate import aggregates  # noqa: E402
from evaluator.bootstrap import percentile_ci  # noqa: E402
from leaderboard.models import (  # noqa: E402
    Aggregate,
    Benchmark,
    Modality,
    ReplicateVector,
    Result,
    Submission,
    Task,
)
from leaderboard.services.boards import recompute  # noqa: E402

MODALITIES = ("xray", "colour", "ct-oct")
TASKS = [(f"t{i}-{m}", m) for m in MODALITIES for i in range(2)]
REPLICATES = 50  # page time does not depend on it; it keeps the database small
FAMILIES = ("lora", "adapter", "linear", "bitfit", "vpt_deep", "gmoe_adapter")


def make_benchmark(slug: str) -> Benchmark:
    bench = Benchmark.objects.create(slug=slug, name=slug, synthetic=True)
    mods = {
        m: Modality.objects.create(benchmark=bench, slug=m, name=m.upper(), order=i)
        for i, m in enumerate(MODALITIES)
    }
    counts = {
        s: {"n_images": 1000, "n_patients": 100} for s in ("train", "val", "test_id", "test_ood")
    }
    for task, m in TASKS:
        Task.objects.create(
            slug=f"{slug}-{task}",
            benchmark=bench,
            modality=mods[m],
            name=task,
            label_type="binary",
            classes=["a", "b"],
            primary_metric="auroc",
            image_size=64,
            channels=1,
            version="1",
            source="synthetic",
            license="CC0-1.0",
            split_counts=counts,
            synthetic=True,
        )
    return bench


def _score(bench: Benchmark, rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    metas = {
        f"{bench.slug}-{t}": SimpleNamespace(
            label_type="binary", modality=m, test_images_public=True
        )
        for t, m in TASKS
    }
    skill = rng.uniform(0.55, 0.95)
    tasks_json: dict[str, Any] = {}
    reps: dict[str, dict[str, list[float] | None]] = {}
    for slug in metas:
        entry: dict[str, Any] = {}
        reps[slug] = {}
        for split, shift in (("test_id", 0.0), ("test_ood", rng.uniform(0.0, 0.15))):
            v = float(np.clip(skill - shift + rng.normal(0, 0.03), 0, 1))
            vec = np.clip(v + rng.normal(0, 0.03, REPLICATES), 0, 1)
            lo, hi = percentile_ci(vec)
            entry[split] = {
                "auroc": {"value": v, "ci_low": lo, "ci_high": hi, "reason": None},
                "accuracy": {
                    "value": v - 0.1,
                    "ci_low": lo - 0.1,
                    "ci_high": hi - 0.1,
                    "reason": None,
                },
            }
            reps[slug][split] = vec.tolist()
        entry["ood_gap"] = entry["test_id"]["auroc"]["value"] - entry["test_ood"]["auroc"]["value"]
        tasks_json[slug] = entry
    meta = {
        "benchmark": bench.slug,
        "benchmark_version": "bench",
        "seed": 0,
        "replicates": REPLICATES,
    }
    sections = aggregates(metas, tasks_json, reps)  # type: ignore[arg-type]
    return {"meta": meta, "tasks": tasks_json, **sections}, reps


def populate(bench: Benchmark, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"{bench.slug}-u{i}") for i in range(max(n // 5, 1))]
    )
    tasks = {t.slug: t for t in Task.objects.filter(benchmark=bench)}
    mods = {m.slug: m for m in Modality.objects.filter(benchmark=bench)}
    now = timezone.now()
    for start in range(0, n, 1000):
        batch = []
        scores = []
        for i in range(start, min(start + 1000, n)):
            score, reps = _score(bench, rng)
            scores.append((score, reps))
            batch.append(
                Submission(
                    owner=users[i % len(users)],
                    benchmark=bench,
                    track=("predictions", "checkpoint")[i % 2],
                    protocol=("full", "full", "1k")[i % 3],
                    status="succeeded",
                    file="bench/x.zip",
                    method_name=f"method-{i % 7}",
                    method_family=FAMILIES[i % len(FAMILIES)],
                    pretraining=("general", "medical", "both")[i % 3],
                    reported_tunable_params=int(10 ** rng.uniform(3, 8)),
                    is_public=True,
                    is_baseline=i < 12,
                    score_json=score,
                    complete=True,
                    finished_at=now - timezone.timedelta(minutes=n - i),
                )
            )
        subs = Submission.objects.bulk_create(batch)
        results, aggs, vectors = [], [], []
        for sub, (score, reps) in zip(subs, scores, strict=True):
            for slug, entry in score["tasks"].items():
                for split in ("test_id", "test_ood"):
                    for metric, m in entry[split].items():
                        results.append(
                            Result(
                                submission=sub,
                                task=tasks[slug],
                                split=split,
                                metric=metric,
                                value=m["value"],
                                ci_low=m["ci_low"],
                                ci_high=m["ci_high"],
                                is_primary=metric == "auroc",
                            )
                        )
                    vectors.append(
                        ReplicateVector(
                            submission=sub,
                            task=tasks[slug],
                            split=split,
                            values=np.asarray(reps[slug][split], dtype="<f8").tobytes(),
                        )
                    )
            for scope, mod, agg in [("overall", None, score["overall"])] + [
                ("modality", mods[k], v) for k, v in score["modalities"].items()
            ]:
                aggs.append(
                    Aggregate(
                        submission=sub,
                        scope=scope,
                        modality=mod,
                        test_id=agg["test_id"],
                        test_ood=agg["test_ood"],
                        ood_gap=agg["ood_gap"],
                        complete=agg["complete"],
                    )
                )
        Result.objects.bulk_create(results, batch_size=5000)
        Aggregate.objects.bulk_create(aggs, batch_size=5000)
        ReplicateVector.objects.bulk_create(vectors, batch_size=5000)
        print(f"  {bench.slug}: {min(start + 1000, n)}/{n} submissions", flush=True)


def timed(client: Client, url: str, repeats: int, *, miss: bool) -> list[float]:
    times = []
    client.get(url)  # warm the code paths and the connection
    for _ in range(repeats):
        if miss:
            cache.clear()
        start = time.perf_counter()
        reply = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert reply.status_code == 200
    return times


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def queries(client: Client, url: str, *, miss: bool) -> int:
    if miss:
        cache.clear()
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return len(ctx.captured_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("set DATABASE_URL to a PostgreSQL server (a fresh test database is created)")
    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        run(args.submissions, args.repeats)
    finally:
        teardown_databases(old, verbosity=0)


def run(n: int, repeats: int) -> None:
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    start = time.perf_counter()
    large, small = make_benchmark("large"), make_benchmark("small")
    populate(large, n)
    populate(small, 10, seed=1)
    print(f"populated in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    recompute(large)
    print(f"recompute of {n} submissions: {time.perf_counter() - start:.2f} s")
    recompute(small)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = Client()
    report = {}
    for slug in ("large", "small"):
        url = f"/b/{slug}/"
        miss = timed(client, url, repeats, miss=True)
        hit = timed(client, url, repeats, miss=False)
        report[slug] = (
            miss,
            hit,
            queries(client, url, miss=True),
            queries(client, url, miss=False),
        )
    print(f"\noverall board, first page (50 rows), {repeats} requests each, in-process server time")
    print("| submissions | miss median | miss p95 | hit median | hit p95 | queries miss / hit |")
    print("|---|---|---|---|---|---|")
    for slug, count in (("large", n), ("small", 10)):
        miss, hit, qm, qh = report[slug]
        print(
            f"| {count:,} | {statistics.median(miss):.1f} ms | {p95(miss):.1f} ms | "
            f"{statistics.median(hit):.1f} ms | {p95(hit):.1f} ms | {qm} / {qh} |"
        )
    ratio = statistics.median(report["large"][0]) / statistics.median(report["small"][0])
    ratio95 = p95(report["large"][0]) / p95(report["small"][0])
    print(f"\nmiss ratio {n:,} vs 10 submissions: median {ratio:.2f}, p95 {ratio95:.2f}")
    ok = p95(report["large"][0]) <= 150 and p95(report["large"][1]) <= 20 and ratio <= 3
    print("targets (miss p95 <= 150 ms, hit p95 <= 20 ms, ratio <= 3):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
