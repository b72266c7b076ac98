"""Ranking: shared ranks on ties, nulls never above numbers, incomplete entries unranked,
and statistical ties decided by the paired replicate difference."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator.ranking import Entry, aggregate_replicates, percentile_ci, rank_entries


def test_ties_share_a_rank_and_the_next_rank_skips() -> None:
    ranked = rank_entries([Entry("a", 0.8), Entry("b", 0.9), Entry("c", 0.8), Entry("d", 0.7)])
    assert [(r.id, r.rank) for r in ranked] == [("b", 1), ("a", 2), ("c", 2), ("d", 4)]


def test_null_and_incomplete_entries_are_not_ranked() -> None:
    ranked = rank_entries([
        Entry("null", None), Entry("low", 0.1), Entry("partial", 0.99, complete=False),
        Entry("partial-null", None, complete=False),
    ])
    assert [(r.id, r.rank) for r in ranked] == [
        ("low", 1), ("null", None), ("partial", None), ("partial-null", None),
    ]


def test_lower_is_better() -> None:
    ranked = rank_entries([Entry("a", 0.3), Entry("b", 0.1)], higher_is_better=False)
    assert [r.id for r in ranked] == ["b", "a"]


def test_clear_winner_versus_statistical_tie() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0.8, 0.02, 1000)
    leader = Entry("leader", 0.80, replicates=base + 0.001)
    close = Entry("close", 0.799, replicates=base + rng.normal(0, 0.01, 1000))
    far = Entry("far", 0.70, replicates=base - 0.1 + rng.normal(0, 0.005, 1000))
    ranked = {r.id: r for r in rank_entries([far, close, leader])}
    assert ranked["leader"].rank == 1 and ranked["leader"].tied_with_leader
    assert ranked["close"].tied_with_leader and ranked["close"].diff_ci is not None
    assert ranked["close"].diff_ci[0] <= 0 <= ranked["close"].diff_ci[1]
    assert not ranked["far"].tied_with_leader and ranked["far"].diff_ci[0] > 0


def test_aggregate_replicates_is_a_replicate_by_replicate_mean() -> None:
    a, b = np.array([0.1, 0.2, np.nan]), np.array([0.3, 0.4, 0.5])
    agg = aggregate_replicates([a, b])
    assert agg[:2] == pytest.approx([0.2, 0.3]) and np.isnan(agg[2])
    assert percentile_ci(agg) == pytest.approx((0.2025, 0.2975))
    assert percentile_ci([np.nan]) is None
    with pytest.raises(ValueError):
        aggregate_replicates([])
