"""Builders of tiny tasks, MedMNIST-style arrays and manifest rows for the datasets tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datasets.bundle import SPLITS, SplitData, TaskMeta
from datasets.splits import build_patient_splits


def make_meta(**overrides: object) -> TaskMeta:
    fields: dict[str, object] = dict(
        slug="tiny-task", name="Tiny task", benchmark="bench", modality="xray", organ="chest",
        label_type="multiclass", classes=("a", "b", "c"), image_size=8, channels=1,
        primary_metric="accuracy", version="1", source="test fixture", license="CC0-1.0",
        citation="", test_images_public=True, ood_level="patient", synthetic=True,
    )
    fields.update(overrides)
    return TaskMeta(**fields)  # type: ignore[arg-type]


def random_labels(meta: TaskMeta, n: int, rng: np.random.Generator) -> np.ndarray:
    k = meta.num_classes
    if meta.label_type == "multilabel":
        return rng.integers(0, 2, size=(n, k)).astype(np.uint8)
    return rng.integers(0, k, size=n).astype(np.int64)


def make_splits(meta: TaskMeta, *, n_patients: int = 20, seed: int = 0) -> dict[str, SplitData]:
    """A valid task: 2-5 images per patient, split by the patient split builder."""
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(2, 6, size=n_patients)
    patients = np.repeat([f"P{i:04d}" for i in range(n_patients)], per_patient)
    n = len(patients)
    shape = (n, meta.image_size, meta.image_size, meta.channels)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    labels = random_labels(meta, n, rng)
    idx = build_patient_splits(patients, labels, seed=seed)
    if meta.ood_level == "none":
        idx["train"] = np.sort(np.concatenate([idx["train"], idx["test_ood"]]))
        idx["test_ood"] = np.zeros(0, np.int64)
    return {
        split: SplitData(
            images=images[idx[split]],
            image_ids=np.array(
                [f"{meta.slug}_{split}_{i}" for i in range(len(idx[split]))], dtype=str
            ),
            labels=labels[idx[split]],
            patient_ids=patients[idx[split]],
        )
        for split in SPLITS
    }


MEDMNIST_SIZES = {"train": 40, "val": 10, "test": 15}


def medmnist_arrays(
    *, n_classes: int = 3, multilabel: bool = False, rgb: bool = False, size: int = 8,
    patients: bool = False, seed: int = 0,
) -> dict[str, np.ndarray]:
    """Official MedMNIST keys (labels N x 1 or N x K), optional ``*_patient_ids``."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for offset, (split, n) in enumerate(MEDMNIST_SIZES.items()):
        shape = (n, size, size, 3) if rgb else (n, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if multilabel:
            arrays[f"{split}_labels"] = rng.integers(0, 2, size=(n, n_classes)).astype(np.uint8)
        else:
            arrays[f"{split}_labels"] = (np.arange(n) % n_classes).astype(np.uint8)[:, None]
        if patients:
            # Patients cross the official splits on purpose: the importer pools and re-splits.
            arrays[f"{split}_patient_ids"] = np.array(
                [f"Q{(i + offset * 7) % 16:03d}" for i in range(n)]
            )
    return arrays


def manifest_rows(
    n_patients: int = 12, per_patient: int = 4, classes: int = 2
) -> list[dict[str, str]]:
    rows = []
    for p in range(n_patients):
        for j in range(per_patient):
            rows.append({"path": f"images/p{p}_{j}.png", "label": str((p + j) % classes),
                         "patient_id": f"PT{p:03d}"})
    return rows


def data_root_entries(root: Path) -> list[str]:
    """Every path under the data root (to prove a failed import left nothing behind)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
