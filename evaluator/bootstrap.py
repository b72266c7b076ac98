"""Patient-level cluster bootstrap: fixed resamples, weighted statistics, percentile intervals.

A replicate is a vector of *counts per patient* (how often each patient was drawn). Every image of a
patient carries its patient's count as a weight, so a metric on a replicate equals the metric on the
resampled data set with repeated patients' images repeated. Row 0 of a count matrix is all ones: the
point estimate comes from exactly the same code as the replicates.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

CI_LEVEL = 0.95
_CACHE: OrderedDict[tuple[str, str, str, int, int, int], np.ndarray] = OrderedDict()
# Bounded by bytes, not entries: one large split's counts (1,000 replicates x 300k patients) are
# 2.4 GB, more than a worker should keep between submissions; such matrices are not kept at all.
_CACHE_BYTES = 512 * 2**20


def resample_seed(task: str, version: str, split: str, seed: int) -> int:
    """A 128-bit seed that depends on (task, task version, split, seed) and nothing else."""
    digest = hashlib.sha256(f"medvtab-bootstrap|{task}|{version}|{split}|{seed}".encode()).digest()
    return int.from_bytes(digest[:16], "little")


# Draw counts are made this many matrix entries at a time, so that the int64 draws and their
# bincount never hold more than a few tens of MB, whatever the number of patients (a 300k-patient
# split with 1,000 replicates would otherwise hold three 2.4 GB intermediates beside the result).
_DRAW_BLOCK = 4_000_000


def bootstrap_counts(
    task: str, version: str, split: str, seed: int, n_patients: int, replicates: int
) -> np.ndarray:
    """((1 + replicates) x n_patients) float64 weights: row 0 all ones (the point estimate), then
    each replicate's draw counts; identical for every submission to the task. Read-only, cached."""
    key = (task, version, split, seed, n_patients, replicates)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    rng = np.random.Generator(np.random.PCG64(resample_seed(task, version, split, seed)))
    out = np.empty((1 + replicates, n_patients), dtype=np.float64)
    out[0] = 1.0
    # Consecutive blocks of rows consume the generator exactly as one (replicates, n) call would,
    # so the counts do not depend on the block size.
    block = max(1, _DRAW_BLOCK // max(1, n_patients))
    for start in range(0, replicates, block):
        rows = min(block, replicates - start)
        draws = rng.integers(0, n_patients, size=(rows, n_patients), dtype=np.int64)
        draws += np.arange(rows, dtype=np.int64)[:, None] * n_patients
        counts = np.bincount(draws.ravel(), minlength=rows * n_patients)
        out[1 + start : 1 + start + rows] = counts.reshape(rows, n_patients)
    out.setflags(write=False)
    _remember(key, out)
    return out


def _remember(key: tuple[str, str, str, int, int, int], counts: np.ndarray) -> None:
    if counts.nbytes > _CACHE_BYTES:
        return
    _CACHE[key] = counts
    while sum(c.nbytes for c in _CACHE.values()) > _CACHE_BYTES:
        _CACHE.popitem(last=False)


def resample_counts(
    task: str, version: str, split: str, seed: int, n_patients: int, replicates: int
) -> np.ndarray:
    """(replicates x n_patients) draw counts: ``bootstrap_counts`` without its point row."""
    return bootstrap_counts(task, version, split, seed, n_patients, replicates)[1:]


@dataclass
class PatientIndex:
    """Images grouped by patient, for fast per-patient sums."""

    patient: np.ndarray  # int index 0..P-1 per image
    n_patients: int
    identity: bool = False  # one image per patient, in order: sums are the values themselves
    order: np.ndarray = field(init=False)
    starts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.identity:
            self.order = self.starts = self.patient
            return
        self.order = np.argsort(self.patient, kind="stable")
        sorted_patients = self.patient[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_patients[1:] != sorted_patients[:-1]])

    @classmethod
    def from_ids(cls, patient_ids: np.ndarray) -> PatientIndex:
        _, inverse = np.unique(np.asarray(patient_ids).astype(str), return_inverse=True)
        inverse = inverse.ravel()
        return cls(inverse, int(inverse.max()) + 1 if len(inverse) else 0)

    @classmethod
    def per_image(cls, n: int) -> PatientIndex:
        """Every image its own cluster (point metrics, or an image-level bootstrap)."""
        return cls(np.arange(n), n, identity=True)

    def sums(self, x: np.ndarray) -> np.ndarray:
        """Per-patient column sums of an (N, m) array → (P, m)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if self.identity:
            return x
        return np.add.reduceat(x[self.order], self.starts, axis=0)


def percentile_ci(replicates: np.ndarray | list[float] | None) -> tuple[float, float] | None:
    """95% percentile interval over the defined (non-NaN) replicates; None when there are none."""
    if replicates is None:
        return None
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
