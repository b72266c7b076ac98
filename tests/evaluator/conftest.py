"""Tiny benchmark bundles written with datasets.bundle.write_task, and submission builders."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import SplitData, TaskMeta, load_split, write_task

BENCH = "tiny"
IMG = 8


def make_meta(slug: str, label_type: str, classes: tuple[str, ...], modality: str, **kw: object) -> TaskMeta:
    base: dict[str, object] = dict(
        slug=slug, name=slug, benchmark=BENCH, modality=modality, organ="skin",
        label_type=label_type, classes=classes, image_size=IMG, channels=1,
        primary_metric="auroc" if label_type in ("binary", "multilabel") else "accuracy",
        version="1", source="test", license="CC0", citation="", test_images_public=True,
        ood_level="patient", synthetic=True,
    )
    base.update(kw)
    return TaskMeta(**base)  # type: ignore[arg-type]


def make_split(
    rng: np.random.Generator, prefix: str, n: int, per_patient: int, label_type: str, k: int
) -> SplitData:
    ids = np.array([f"{prefix}_{i:05d}" for i in range(n)])
    patients = np.array([f"{prefix}_p{i // per_patient:04d}" for i in range(n)])
    if label_type == "multilabel":
        labels = (rng.random((n, k)) < 0.4).astype(np.uint8)
        labels[:k, :] = np.eye(k, dtype=np.uint8)[: min(n, k)] if n >= k else labels[:k]
        labels[k: 2 * k] = 1 - np.eye(k, dtype=np.uint8)[: max(0, min(k, n - k))]
    else:
        labels = rng.integers(0, k, n).astype(np.int64)
        labels[:k] = np.arange(min(k, n))
    images = rng.integers(0, 255, (n, IMG, IMG, 1), dtype=np.uint8)
    return SplitData(images=images, image_ids=ids, labels=labels, patient_ids=patients)


TASKS: list[tuple[TaskMeta, int, int]] = [
    # (meta, n test_id, n test_ood)
    (make_meta("derm-synth", "multiclass", ("nevus", "melanoma", "bcc"), "colour"), 60, 40),
    (make_meta("chest-bin", "binary", ("normal", "pneumonia"), "xray"), 50, 30),
    (make_meta("chest-multi", "multilabel", ("a", "b", "c", "d"), "xray"), 40, 30),
    (make_meta("retina-grade", "ordinal", ("g0", "g1", "g2"), "oct", ood_level="none"), 30, 0),
    (make_meta("ct-hidden", "multiclass", ("x", "y", "z"), "ct", test_images_public=False), 20, 20),
]


def build_benchmark(root: Path) -> dict[str, TaskMeta]:
    rng = np.random.default_rng(1234)
    metas = {}
    for meta, n_id, n_ood in TASKS:
        k = meta.num_classes
        splits = {
            "train": make_split(rng, f"{meta.slug}-tr", 30, 5, meta.label_type, k),
            "val": make_split(rng, f"{meta.slug}-va", 10, 5, meta.label_type, k),
            "test_id": make_split(rng, f"{meta.slug}-ti", n_id, 5, meta.label_type, k),
            "test_ood": make_split(rng, f"{meta.slug}-to", n_ood, 5, meta.label_type, k),
        }
        metas[meta.slug] = write_task(root, meta, splits)
    return metas


@pytest.fixture(scope="session")
def bench_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    build_benchmark(root)
    return root


@pytest.fixture(scope="session")
def metas(bench_root: Path) -> dict[str, TaskMeta]:
    from datasets.bundle import list_tasks

    return {m.slug: m for m in list_tasks(bench_root, BENCH)}


def all_test_ids(root: Path, meta: TaskMeta) -> np.ndarray:
    parts = [load_split(root, meta, s, hidden=True, images=False).image_ids for s in ("test_id", "test_ood")]
    return np.concatenate(parts).astype(str)


def random_probs(rng: np.random.Generator, n: int, meta: TaskMeta) -> np.ndarray:
    if meta.label_type == "multilabel":
        return rng.random((n, meta.num_classes))
    return rng.dirichlet(np.ones(meta.num_classes), n)


def csv_text(meta: TaskMeta, ids: np.ndarray, probs: np.ndarray) -> str:
    lines = ["image_id," + ",".join(meta.classes)]
    lines += [f"{i}," + ",".join(repr(float(v)) for v in row) for i, row in zip(ids, probs, strict=True)]
    return "\n".join(lines) + "\n"


def write_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def good_submission(
    root: Path, metas: dict[str, TaskMeta], path: Path, seed: int = 0, skip: tuple[str, ...] = ()
) -> Path:
    rng = np.random.default_rng(seed)
    members: dict[str, bytes | str] = {}
    for slug, meta in metas.items():
        if not meta.test_images_public or slug in skip:
            continue
        ids = all_test_ids(root, meta)
        members[f"{slug}.csv"] = csv_text(meta, ids, random_probs(rng, len(ids), meta))
    return write_zip(path, members)
