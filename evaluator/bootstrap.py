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
_CACHE_SIZE = 64


def resample_seed(task: str, version: str, split: str, seed: int) -> int:
    """A 128-bit seed that depends on (task, task version, split, seed) and nothing else."""
    digest = hashlib.sha256(f"medvtab-bootstrap|{task}|{version}|{split}|{seed}".encode()).digest()
    return int.from_bytes(digest[:16], "little")


def resample_counts(
    task: str, version: str, split: str, seed: int, n_patients: int, replicates: int
) -> np.ndarray:
    """(replicates x n_patients) draw counts; identical for every submission to the task."""
    key = (task, version, split, seed, n_patients, replicates)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    rng = np.random.Generator(np.random.PCG64(resample_seed(task, version, split, seed)))
    draws = rng.integers(0, n_patients, size=(replicates, n_patients), dtype=np.int64)
    draws += np.arange(replicates, dtype=np.int64)[:, None] * n_patients
    counts = np.bincount(draws.ravel(), minlength=replicates * n_patients)
    counts = counts.reshape(replicates, n_patients).astype(np.float64)
    counts.setflags(write=False)
    _CACHE[key] = counts
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return counts


def with_point_row(counts: np.ndarray) -> np.ndarray:
    """Prepend the all-ones row (each patient once: the original data set)."""
    return np.vstack([np.ones((1, counts.shape[1])), counts])


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
