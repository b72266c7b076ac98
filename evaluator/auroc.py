"""AUROC for the point estimate and every bootstrap replicate at once.

AUROC = P(score_pos > score_neg) + ½ P(tie). With per-image weights w (the patient's draw count),
2U = Σ_pos w_i (N⁻(< s_i) + N⁻(≤ s_i)), where N⁻ are weighted counts of negatives. Negatives are
sorted once per class; their weights are cumulated along the sorted order for a block of replicates
at a time, and read off at each positive's insertion points. Counts are integers and 2U is computed
in integer arithmetic, so every value is exact up to the final division.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK = 32  # replicates per block: keeps the working matrices small enough for the caches


@dataclass
class _Prepared:
    neg_patient: np.ndarray
    pos_patient: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    ties: bool


def _prepare(
    scores: np.ndarray, positive: np.ndarray, patient: np.ndarray, need_patients: bool
) -> _Prepared:
    neg_scores, pos_scores = scores[~positive], scores[positive]
    if need_patients:
        order = np.argsort(neg_scores)
        neg_sorted, neg_patient = neg_scores[order], patient[~positive][order]
        pos_order = np.argsort(pos_scores)
        pos_sorted, pos_patient = pos_scores[pos_order], patient[positive][pos_order]
    else:
        neg_sorted, neg_patient = np.sort(neg_scores), patient[:0]
        pos_sorted, pos_patient = np.sort(pos_scores), patient[:0]
    # Sorted queries make searchsorted walk forward instead of jumping around.
    lo = np.searchsorted(neg_sorted, pos_sorted, side="left")
    inside = lo < len(neg_sorted)
    ties = bool(np.any(neg_sorted[lo[inside]] == pos_sorted[inside]))
    hi = np.searchsorted(neg_sorted, pos_sorted, side="right") if ties else lo
    return _Prepared(neg_patient, pos_patient, lo, hi, ties)


def _two_u_block(block: np.ndarray, prep: _Prepared) -> np.ndarray:
    """2U for a block of replicates (rows of ``block``: per-patient integer counts).

    Replicates are rows so that the cumulation runs along contiguous memory; integer arithmetic
    keeps every replicate exact.
    """
    cum = np.empty((block.shape[0], len(prep.neg_patient) + 1), dtype=block.dtype)
    cum[:, 0] = 0
    np.cumsum(block[:, prep.neg_patient], axis=1, out=cum[:, 1:])
    below = cum[:, prep.lo]
    below += cum[:, prep.hi] if prep.ties else below
    below *= block[:, prep.pos_patient]
    return below.sum(axis=1, dtype=np.int64).astype(np.float64)


def auroc_replicates(
    scores: np.ndarray, positives: np.ndarray, patient: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """AUROC per row of ``counts`` (rows x patients) for each column of ``scores``/``positives``.

    ``scores`` and ``positives`` are (N, K); returns (rows, K), NaN where a row has no positive or
    no negative weight (the metric is undefined on that resample).
    """
    n_rows, n_patients = counts.shape
    k = scores.shape[1]
    # Rows of all ones (the point estimate) need no cumulation: N⁻(< s) is the insertion index.
    unit = np.all(counts == 1.0, axis=1)
    weighted = np.flatnonzero(~unit)
    prepared = [
        _prepare(scores[:, c], positives[:, c], patient, len(weighted) > 0) for c in range(k)
    ]
    two_u = np.zeros((n_rows, k))
    for c, prep in enumerate(prepared):
        two_u[unit, c] = float(prep.lo.sum() + prep.hi.sum())
    if len(weighted):
        # int32 holds every partial sum unless a split is enormous (then int64, slower).
        heaviest = float((counts @ np.bincount(patient, minlength=n_patients)).max())
        small = 2.0 * float(counts.max()) * heaviest < 2**31
        weights = counts[weighted].astype(np.int32 if small else np.int64)
        for a in range(0, len(weighted), BLOCK):
            block = weights[a:a + BLOCK]
            for c, prep in enumerate(prepared):
                if len(prep.lo) and len(prep.neg_patient):
                    two_u[weighted[a:a + BLOCK], c] = _two_u_block(block, prep)
    if len(weighted) == 0:
        n_pos = np.repeat(positives.sum(axis=0)[None, :].astype(np.float64), n_rows, axis=0)
        n_neg = len(positives) - n_pos
    else:
        pos_per_patient = np.stack(
            [np.bincount(patient[positives[:, c]], minlength=n_patients) for c in range(k)], axis=1
        )
        n_pos = counts @ pos_per_patient
        n_neg = counts @ (np.bincount(patient, minlength=n_patients)[:, None] - pos_per_patient)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = two_u / (2.0 * n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    return auc
