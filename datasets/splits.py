"""Deterministic split builders: patient-level OOD hold-out, in-distribution hold-out, 1k subsets.

All functions return sorted ``int64`` index arrays into the arrays they were given, so callers can
slice images, labels and ids with the same indices. Randomness comes only from ``seed``.
"""

from __future__ import annotations

import numpy as np

PROTOCOL_1K = {"train800": 800, "val200": 200}


def label_keys(labels: np.ndarray) -> np.ndarray:
    """One int per row identifying its label (a class index, or a multilabel row pattern)."""
    labels = np.asarray(labels)
    if labels.ndim == 1:
        _, keys = np.unique(labels, return_inverse=True)
    elif labels.ndim == 2:
        _, keys = np.unique(labels, axis=0, return_inverse=True)
    else:
        raise ValueError(f"labels must be 1-D or 2-D, not {labels.ndim}-D")
    return np.asarray(keys, dtype=np.int64).reshape(-1)


def allocate(total: int, sizes: np.ndarray, caps: np.ndarray | None = None) -> np.ndarray:
    """Split ``total`` over strata proportionally to ``sizes`` (largest remainder), within ``caps``.

    Whatever a capped stratum cannot take goes to the strata with room left, largest first, so the
    overall count is exact whenever the caps allow it.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    caps = np.asarray(sizes if caps is None else caps, dtype=np.int64)
    total = int(min(total, caps.sum()))
    if total <= 0 or sizes.sum() <= 0:
        return np.zeros(len(sizes), dtype=np.int64)
    exact = total * sizes / sizes.sum()
    counts = np.minimum(np.floor(exact).astype(np.int64), caps)
    # Ties in the remainder go to the lower stratum index (stable sort), keeping this deterministic.
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    while counts.sum() < total:
        room = counts < caps
        for i in order:
            if counts.sum() >= total:
                break
            if room[i]:
                counts[i] += 1
    return counts


def _stratified_pick(
    candidates: np.ndarray, keys: np.ndarray, counts_by_key: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Pick ``counts_by_key[k]`` random members of ``candidates`` whose key is ``k``."""
    picked: list[np.ndarray] = []
    for key, n in enumerate(counts_by_key):
        if n <= 0:
            continue
        pool = candidates[keys[candidates] == key]
        picked.append(rng.permutation(pool)[:n])
    return np.sort(np.concatenate(picked)).astype(np.int64) if picked else np.zeros(0, np.int64)


def _majority_keys(patient_inv: np.ndarray, keys: np.ndarray, n_patients: int) -> np.ndarray:
    """Each patient's most frequent label key (ties: the smaller key)."""
    n_keys = int(keys.max()) + 1 if len(keys) else 1
    pairs, counts = np.unique(patient_inv * n_keys + keys, return_counts=True)
    patient, key = pairs // n_keys, pairs % n_keys
    order = np.lexsort((key, -counts, patient))
    first = np.ones(len(order), dtype=bool)
    first[1:] = patient[order][1:] != patient[order][:-1]
    majority = np.zeros(n_patients, dtype=np.int64)
    majority[patient[order][first]] = key[order][first]
    return majority


def _image_holdout(
    indices: np.ndarray,
    keys: np.ndarray,
    groups: np.ndarray,
    fractions: tuple[float, ...],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Hold out ``fractions`` of ``indices`` (stratified by key), keeping one image per group.

    Returns one sorted index array per fraction followed by the remaining (train) indices.
    """
    shuffled = rng.permutation(indices)
    _, first = np.unique(groups[shuffled], return_index=True)
    reserved = np.zeros(len(shuffled), dtype=bool)
    reserved[first] = True
    eligible = shuffled[~reserved]
    n_keys = int(keys.max()) + 1 if len(keys) else 0
    sizes = np.bincount(keys[indices], minlength=n_keys)
    taken: list[np.ndarray] = []
    for fraction in fractions:
        caps = np.bincount(keys[eligible], minlength=n_keys)
        target = round(fraction * len(indices))
        part = _stratified_pick(eligible, keys, allocate(target, sizes, caps), rng)
        taken.append(part)
        eligible = eligible[~np.isin(eligible, part)]
    used = np.concatenate(taken) if taken else np.zeros(0, np.int64)
    rest = np.sort(indices[~np.isin(indices, used)]).astype(np.int64)
    return [*taken, rest]


def build_patient_splits(
    patient_ids: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    ood_fraction: float = 0.2,
    test_id_fraction: float = 0.2,
    val_fraction: float = 0.1,
) -> dict[str, np.ndarray]:
    """Return {"train","val","test_id","test_ood"} -> sorted int64 index arrays into the inputs.

    ``ood_fraction`` of the *patients* become ``test_ood`` (stratified by each patient's majority
    label). Of the remaining images, ``test_id_fraction`` and ``val_fraction`` (of the image
    count, stratified by label) are held out as ``test_id`` and ``val``, never taking a patient's
    last image: every remaining patient keeps at least one image in ``train``, so every ``test_id``
    patient is seen in training. Multilabel (2-D) labels are stratified by their row pattern.
    """
    patient_ids = np.asarray(patient_ids).reshape(-1)
    keys = label_keys(labels)
    if len(keys) != len(patient_ids):
        raise ValueError(f"{len(patient_ids)} patient ids but {len(keys)} labels")
    for name, value in (("ood_fraction", ood_fraction), ("test_id_fraction", test_id_fraction),
                        ("val_fraction", val_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), not {value}")
    if test_id_fraction + val_fraction >= 1.0:
        raise ValueError("test_id_fraction + val_fraction must be below 1")
    rng = np.random.default_rng(seed)
    unique, patient_inv = np.unique(patient_ids, return_inverse=True)
    patient_inv = patient_inv.reshape(-1)
    n_patients = len(unique)
    majority = _majority_keys(patient_inv, keys, n_patients)
    # At least one OOD patient when asked for any, never all of them: training needs a patient.
    n_ood = round(ood_fraction * n_patients)
    if ood_fraction > 0 and n_patients >= 2:
        n_ood = min(max(n_ood, 1), n_patients - 1)
    strata = np.bincount(majority, minlength=int(majority.max()) + 1 if n_patients else 0)
    ood_patients = _stratified_pick(np.arange(n_patients), majority, allocate(n_ood, strata), rng)
    is_ood = np.isin(patient_inv, ood_patients)
    test_ood = np.flatnonzero(is_ood).astype(np.int64)
    test_id, val, train = _image_holdout(
        np.flatnonzero(~is_ood), keys, patient_inv, (test_id_fraction, val_fraction), rng
    )
    return {"train": train, "val": val, "test_id": test_id, "test_ood": test_ood}


def holdout_test_id(
    labels: np.ndarray, *, seed: int, fraction: float = 0.2, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split images into (kept, held_out) sorted index arrays, stratified by label.

    For sources without patient ids (MedMNIST "site" mode): part of the official train split becomes
    ``test_id``. With ``groups`` (patient ids) each group keeps at least one image in the kept part.
    """
    keys = label_keys(labels)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), not {fraction}")
    groups = np.arange(len(keys)) if groups is None else np.asarray(groups).reshape(-1)
    if len(groups) != len(keys):
        raise ValueError(f"{len(groups)} groups but {len(keys)} labels")
    rng = np.random.default_rng(seed)
    indices = np.arange(len(keys), dtype=np.int64)
    if len(np.unique(groups)) == len(groups):
        # One image per group: nothing to reserve, hold out images freely.
        sizes = np.bincount(keys, minlength=int(keys.max()) + 1 if len(keys) else 0)
        held = _stratified_pick(indices, keys, allocate(round(fraction * len(keys)), sizes), rng)
        return np.setdiff1d(indices, held).astype(np.int64), held
    held, kept = _image_holdout(indices, keys, groups, (fraction,), rng)
    return kept, held


def _subset(n: int, size: int, labels: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    size = min(size, n)
    if labels is None:
        return np.sort(rng.permutation(n)[:size]).astype(np.int64)
    keys = label_keys(labels)
    if len(keys) != n:
        raise ValueError(f"{len(keys)} labels for {n} images")
    sizes = np.bincount(keys)
    counts = allocate(size, sizes)
    # Few-shot subsets should still show every class: give an empty stratum one image when possible.
    for key in np.flatnonzero((counts == 0) & (sizes > 0)):
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[key] += 1
    return _stratified_pick(np.arange(n), keys, counts, rng)


def build_1k_protocol(
    n_train: int,
    n_val: int,
    *,
    seed: int,
    train_labels: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """VTAB-1k style fixed subsets: {"train800": idx into train, "val200": idx into val}.

    Each subset has ``min(n, size)`` images, stratified by label when labels are given.
    """
    rng = np.random.default_rng(seed)
    return {
        "train800": _subset(n_train, PROTOCOL_1K["train800"], train_labels, rng),
        "val200": _subset(n_val, PROTOCOL_1K["val200"], val_labels, rng),
    }
