"""Ladder-style reporting (Blum & Hardt, "The Ladder", ICML 2015) on paired bootstrap replicates.

A participant's *shown* score changes only when a new attempt beats the shown one significantly:
the lower end of the 95% percentile interval of the paired replicate difference (new minus shown,
replicate by replicate, NaN replicates dropped) must exceed ``margin``, and the new point value
must be higher. Otherwise the shown score stays, and the attempt's own score is not revealed.
Repeated probing then reveals at most one bit per significant step, which bounds how far a
participant can fit the hidden labels (docs/operations.md, "Running the Ladder").

Pure and typed: no Django. Attempts come in submission order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from evaluator.ranking import paired_difference_ci


class Verdict(StrEnum):
    FIRST = "first"  # the first defined attempt: shown as it is
    IMPROVED = "significant improvement"
    NOT_SIGNIFICANT = "no significant improvement"
    UNDEFINED = "undefined"  # no value (or incomplete): never shown, the shown score stays
    UNPAIRED = "not comparable"  # replicates missing or of unequal length: the shown score stays


MOVES = (Verdict.FIRST, Verdict.IMPROVED)


@dataclass(frozen=True)
class Attempt:
    id: str
    value: float | None
    replicates: np.ndarray | None = None
    complete: bool = True


@dataclass(frozen=True)
class Step:
    """The ladder's answer to one attempt: its verdict, and the attempt shown after it."""

    id: str
    verdict: Verdict
    shown: str | None

    @property
    def moved(self) -> bool:
        return self.verdict in MOVES


def _defined(a: Attempt) -> bool:
    return a.complete and a.value is not None and math.isfinite(a.value)


def check_margin(margin: float) -> float:
    if not math.isfinite(margin) or margin < 0:
        raise ValueError(f"ladder margin must be a finite number >= 0, not {margin!r}")
    return float(margin)


def judge(new: Attempt, shown: Attempt | None, margin: float = 0.0) -> Verdict:
    """Whether ``new`` replaces ``shown`` as the shown score (see the module's rule)."""
    margin = check_margin(margin)
    if not _defined(new):
        return Verdict.UNDEFINED
    if shown is None:
        return Verdict.FIRST
    diff = paired_difference_ci(new.replicates, shown.replicates)  # new minus shown
    if diff is None:
        return Verdict.UNPAIRED
    assert new.value is not None and shown.value is not None  # both defined
    significant = diff[0] > margin and new.value > shown.value
    return Verdict.IMPROVED if significant else Verdict.NOT_SIGNIFICANT


def climb(attempts: Sequence[Attempt], margin: float = 0.0) -> list[Step]:
    """Run the ladder over one participant's attempts, in submission order."""
    shown: Attempt | None = None
    steps = []
    for attempt in attempts:
        verdict = judge(attempt, shown, margin)
        if verdict in MOVES:
            shown = attempt
        steps.append(Step(attempt.id, verdict, shown.id if shown else None))
    return steps
