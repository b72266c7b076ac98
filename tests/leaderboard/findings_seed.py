"""A board for the findings: a LoRA sweep of three sizes on both demo pre-trainings, one
GMoE-Adapter entry, and one reference row that the findings must leave out. Replicates share a
per-task resample effect, as real ones do (every submission is scored on the same resamples)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.models import Benchmark, Submission
from leaderboard.services.boards import recompute
from tests.browser.seed import REPLICATES, make_score, scored_submission
from tests.leaderboard.conftest import make_user

TASKS = ("tiny-cxr", "tiny-derm", "tiny-oct")
SIZES = (10**3, 10**4, 10**5)


def seed_findings(root: Path, benchmark: Benchmark) -> list[Submission]:
    rng = np.random.default_rng(11)
    shared = {t: rng.normal(0, 0.02, REPLICATES) for t in TASKS}
    owner = make_user("sweeper")
    subs = []

    def add(name: str, family: str, pretraining: str, params: int, base: float, **kw: Any) -> None:
        noise = {t: shared[t] + rng.normal(0, 0.005, REPLICATES) for t in TASKS}
        values = {t: (base + 0.01 * i, base - 0.06 + 0.01 * i) for i, t in enumerate(TASKS)}
        score = make_score(root, values, noise=noise, seed=len(subs))
        subs.append(
            scored_submission(
                kw.pop("owner", owner),
                benchmark,
                score,
                method_name=name,
                method_family=family,
                pretraining=pretraining,
                reported_tunable_params=params,
                protocol="1k",
                **kw,
            )
        )

    for params in SIZES:
        for pretraining, bonus in (("general", 0.0), ("medical", 0.03)):
            base = 0.55 + 0.04 * math.log10(params) / 5 + bonus
            add(f"lora r={params} ({pretraining}, 1k)", "lora", pretraining, params, base)
    add("gmoe_adapter E=4 (both, 1k)", "moe", "both", 50_000, 0.72)
    add(
        "lora r=999 (general, 1k)",  # shaped like the sweep, so counting it would show
        "lora",
        "general",
        10**6,
        0.95,
        owner=make_user("reference"),
        is_reference=True,
    )
    recompute(benchmark)
    return subs
