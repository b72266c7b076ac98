from __future__ import annotations

import numpy as np
import pytest

from datasets.splits import allocate, build_1k_protocol, build_patient_splits, holdout_test_id


def cohort(n_patients: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Patients with 1-8 images; labels mostly follow the patient (as in real data)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, size=n_patients)
    patients = np.repeat([f"P{i:03d}" for i in range(n_patients)], sizes)
    patient_label = rng.integers(0, 3, size=n_patients)
    labels = np.repeat(patient_label, sizes)
    flip = rng.random(len(labels)) < 0.2
    labels[flip] = rng.integers(0, 3, size=int(flip.sum()))
    return patients, labels.astype(np.int64)


def test_patient_splits_partition_the_images_and_obey_the_patient_rules() -> None:
    patients, labels = cohort()
    idx = build_patient_splits(patients, labels, seed=3)
    assert set(idx) == {"train", "val", "test_id", "test_ood"}
    everything = np.concatenate(list(idx.values()))
    assert np.array_equal(np.sort(everything), np.arange(len(labels)))  # disjoint and complete
    for part in idx.values():
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)
    ood = set(patients[idx["test_ood"]])
    seen = set(patients[np.concatenate([idx["train"], idx["val"], idx["test_id"]])])
    assert ood and not ood & seen
    assert set(patients[idx["test_id"]]) <= set(patients[idx["train"]])
    # Every non-OOD patient keeps at least one training image.
    assert set(patients) - ood == set(patients[idx["train"]])


def test_patient_splits_sizes_follow_the_fractions() -> None:
    patients, labels = cohort(n_patients=100, seed=1)
    idx = build_patient_splits(patients, labels, seed=0, ood_fraction=0.2, test_id_fraction=0.2,
                               val_fraction=0.1)
    assert len(np.unique(patients[idx["test_ood"]])) == 20
    remaining = len(labels) - len(idx["test_ood"])
    assert abs(len(idx["test_id"]) - 0.2 * remaining) <= 1
    assert abs(len(idx["val"]) - 0.1 * remaining) <= 1


def test_patient_splits_are_deterministic_by_seed() -> None:
    patients, labels = cohort()
    first = build_patient_splits(patients, labels, seed=7)
    again = build_patient_splits(patients, labels, seed=7)
    other = build_patient_splits(patients, labels, seed=8)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not all(np.array_equal(first[k], other[k]) for k in first)


def test_patient_splits_are_stratified_by_label() -> None:
    rng = np.random.default_rng(5)
    patients = np.repeat([f"P{i:03d}" for i in range(200)], 5)
    labels = np.repeat(rng.choice(3, size=200, p=[0.6, 0.3, 0.1]), 5).astype(np.int64)
    idx = build_patient_splits(patients, labels, seed=0)
    overall = np.bincount(labels, minlength=3) / len(labels)
    for split, part in idx.items():
        share = np.bincount(labels[part], minlength=3) / len(part)
        assert np.abs(share - overall).max() < 0.05, (split, share, overall)


def test_patient_splits_accept_multilabel_rows() -> None:
    patients, _ = cohort(n_patients=40, seed=2)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, size=(len(patients), 3)).astype(np.uint8)
    idx = build_patient_splits(patients, labels, seed=0)
    assert np.array_equal(np.sort(np.concatenate(list(idx.values()))), np.arange(len(patients)))
    assert len(idx["test_id"]) > 0 and len(idx["test_ood"]) > 0


def test_patient_splits_keep_single_image_patients_in_train() -> None:
    patients = np.array([f"P{i}" for i in range(30)])
    labels = np.arange(30) % 2
    idx = build_patient_splits(patients, labels, seed=0)
    assert len(idx["test_id"]) == 0 and len(idx["val"]) == 0
    assert len(idx["train"]) + len(idx["test_ood"]) == 30


@pytest.mark.parametrize("kwargs", [{"ood_fraction": 1.0}, {"val_fraction": -0.1},
                                    {"test_id_fraction": 0.6, "val_fraction": 0.5}])
def test_patient_splits_reject_bad_fractions(kwargs: dict[str, float]) -> None:
    patients, labels = cohort(n_patients=10)
    with pytest.raises(ValueError, match="fraction"):
        build_patient_splits(patients, labels, seed=0, **kwargs)


def test_patient_splits_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="3 patient ids but 2 labels"):
        build_patient_splits(np.array(["a", "b", "c"]), np.array([0, 1]), seed=0)


def test_allocate_is_exact_and_respects_caps() -> None:
    counts = allocate(10, np.array([5, 3, 2]), caps=np.array([1, 9, 9]))
    assert counts.sum() == 10 and counts[0] == 1
    assert list(allocate(3, np.array([1, 1, 1]))) == [1, 1, 1]
    assert allocate(50, np.array([2, 2])).sum() == 4


def test_holdout_test_id_is_stratified_and_disjoint() -> None:
    labels = np.repeat([0, 1, 2, 3], [50, 30, 15, 5])
    kept, held = holdout_test_id(labels, seed=1, fraction=0.2)
    assert len(np.intersect1d(kept, held)) == 0 and len(kept) + len(held) == 100
    assert list(np.bincount(labels[held], minlength=4)) == [10, 6, 3, 1]
    again_kept, _ = holdout_test_id(labels, seed=1, fraction=0.2)
    assert np.array_equal(kept, again_kept)


def test_holdout_test_id_with_groups_keeps_every_group() -> None:
    groups = np.repeat(np.arange(10), 4)
    labels = np.arange(40) % 2
    kept, held = holdout_test_id(labels, seed=0, fraction=0.3, groups=groups)
    assert len(held) == 12
    assert set(groups[kept]) == set(range(10))


def test_1k_protocol_sizes_are_min_of_n_and_quota() -> None:
    big = build_1k_protocol(2000, 500, seed=0)
    assert len(big["train800"]) == 800 and len(big["val200"]) == 200
    small = build_1k_protocol(50, 7, seed=0)
    assert np.array_equal(small["train800"], np.arange(50))
    assert np.array_equal(small["val200"], np.arange(7))
    for part in big.values():
        assert part.dtype == np.int64 and len(np.unique(part)) == len(part)


def test_1k_protocol_is_deterministic_and_stratified() -> None:
    rng = np.random.default_rng(0)
    train_labels = rng.choice(4, size=3000, p=[0.7, 0.2, 0.09, 0.01])
    val_labels = rng.choice(4, size=600, p=[0.7, 0.2, 0.09, 0.01])
    first = build_1k_protocol(3000, 600, seed=4, train_labels=train_labels, val_labels=val_labels)
    again = build_1k_protocol(3000, 600, seed=4, train_labels=train_labels, val_labels=val_labels)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    picked = np.bincount(train_labels[first["train800"]], minlength=4) / 800
    overall = np.bincount(train_labels, minlength=4) / 3000
    assert np.abs(picked - overall).max() < 0.01
    # Every class present in val is present in the 200 subset, however rare.
    assert set(val_labels[first["val200"]]) == set(val_labels)
    assert first["train800"].max() < 3000 and first["val200"].max() < 600
