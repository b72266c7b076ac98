"""Boards of a chosen size: complete public entries, one per participant, at chosen times."""

from __future__ import annotations

from pathlib import Path

from leaderboard.models import Benchmark, Submission
from tests.browser.seed import make_score, scored_submission
from tests.leaderboard.conftest import make_user


def seed_board(root: Path, benchmark: Benchmark, n: int, *, spacing_s: float) -> list[Submission]:
    """``n`` complete public entries, one per participant, finished ``spacing_s`` apart (the last
    one now), with scores that mostly improve so the best-score history has several steps."""
    families = ("lora", "adapter", "linear")
    subs = []
    for i in range(n):
        base = 0.55 + 0.4 * i / max(n - 1, 1) - 0.03 * (i % 4)
        values: dict[str, tuple[float | None, float | None]] = {
            "tiny-cxr": (base, base - 0.1),
            "tiny-derm": (1.3 - base, 1.2 - base),
            "tiny-oct": (base / 2 + 0.3, base / 2 + 0.2),
        }
        family = families[i % 3]
        subs.append(
            scored_submission(
                make_user(f"user{i}"),
                benchmark,
                make_score(root, values, seed=i),
                method_name=f"{family}-{i}",
                method_family=family,
                reported_tunable_params=10 ** (3 + i % 5),
                pretraining=("general", "medical", "both")[i % 3],
                finished_offset_s=-spacing_s * (n - 1 - i),
            )
        )
    return subs
