"""The Ladder's decision on constructed replicate vectors: it keeps the shown score when the
paired improvement is not significant and moves it when it is; ties, margins, undefined values
and unpaired vectors keep the shown score."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator.ladder import Attempt, Verdict, climb, judge

RNG = np.random.default_rng(7)
NOISE = RNG.normal(0, 0.02, 500)  # shared noise: the pairing cancels it


def attempt(id_: str, value: float | None, noise: np.ndarray = NOISE, **kw: object) -> Attempt:
    reps = None if value is None else value + noise
    return Attempt(id_, value, reps, **kw)  # type: ignore[arg-type]


def test_a_paired_gain_above_the_noise_moves_the_shown_score() -> None:
    shown = attempt("a", 0.80)
    # +0.01 is well inside each attempt's own CI (about ±0.04), but paired it is certain
    assert judge(attempt("b", 0.81), shown) is Verdict.IMPROVED


def test_a_gain_inside_the_paired_noise_keeps_the_shown_score() -> None:
    shown = attempt("a", 0.80)
    other_noise = RNG.normal(0, 0.02, 500)  # unpaired noise: the difference's CI spans 0
    assert judge(attempt("b", 0.802, other_noise), shown) is Verdict.NOT_SIGNIFICANT


def test_a_tie_and_a_loss_keep_the_shown_score() -> None:
    shown = attempt("a", 0.80)
    assert judge(attempt("b", 0.80), shown) is Verdict.NOT_SIGNIFICANT  # CI of diff [0, 0]
    assert judge(attempt("c", 0.70), shown) is Verdict.NOT_SIGNIFICANT


def test_the_margin_is_what_the_lower_end_must_exceed() -> None:
    shown = attempt("a", 0.80)
    new = attempt("b", 0.81)  # paired difference exactly 0.01 in every replicate
    assert judge(new, shown, margin=0.005) is Verdict.IMPROVED
    assert judge(new, shown, margin=0.02) is Verdict.NOT_SIGNIFICANT
    with pytest.raises(ValueError, match="margin"):
        judge(new, shown, margin=-0.1)
    with pytest.raises(ValueError, match="margin"):
        judge(new, shown, margin=float("nan"))


def test_undefined_incomplete_and_unpaired_attempts_never_move_it() -> None:
    shown = attempt("a", 0.80)
    assert judge(attempt("b", None), shown) is Verdict.UNDEFINED
    assert judge(attempt("c", float("nan")), shown) is Verdict.UNDEFINED
    assert judge(attempt("d", 0.95, complete=False), shown) is Verdict.UNDEFINED
    assert judge(Attempt("e", 0.95, None), shown) is Verdict.UNPAIRED
    assert judge(attempt("f", 0.95, NOISE[:100]), shown) is Verdict.UNPAIRED
    all_nan = Attempt("g", 0.95, np.full(500, np.nan))
    assert judge(all_nan, shown) is Verdict.UNPAIRED
    assert judge(attempt("h", None), None) is Verdict.UNDEFINED  # nothing to show yet


def test_nan_replicates_are_dropped_from_the_paired_difference() -> None:
    shown = attempt("a", 0.80)
    reps = 0.81 + NOISE.copy()
    reps[:50] = np.nan  # dropped replicates (undefined metric on that resample)
    assert judge(Attempt("b", 0.81, reps), shown) is Verdict.IMPROVED


def test_climb_shows_the_first_defined_attempt_then_only_significant_steps() -> None:
    steps = climb(
        [
            attempt("u", None),
            attempt("a", 0.80),
            attempt("b", 0.80),
            attempt("c", 0.85),
            attempt("d", 0.84),
            attempt("e", 0.851, RNG.normal(0, 0.02, 500)),
        ]
    )
    assert [(s.id, s.verdict, s.shown) for s in steps] == [
        ("u", Verdict.UNDEFINED, None),
        ("a", Verdict.FIRST, "a"),
        ("b", Verdict.NOT_SIGNIFICANT, "a"),
        ("c", Verdict.IMPROVED, "c"),
        ("d", Verdict.NOT_SIGNIFICANT, "c"),
        ("e", Verdict.NOT_SIGNIFICANT, "c"),
    ]
    assert [s.moved for s in steps] == [False, True, False, True, False, False]
