"""Tiny task bundles written through the real bundle writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from datasets.bundle import SPLITS, SplitData, TaskMeta, write_task


def tiny_meta(
    slug: str,
    *,
    benchmark: str = "tiny-bench",
    modality: str = "xray",
    label_type: str = "multiclass",
    classes: tuple[str, ...] = ("a", "b", "c"),
    image_size: int = 8,
    channels: int = 1,
    test_images_public: bool = True,
    ood_level: str = "patient",
    version: str = "1",
) -> TaskMeta:
    primary = "accuracy" if label_type in ("multiclass", "ordinal") else "auroc"
    return TaskMeta(
        slug=slug,
        name=slug.replace("-", " ").title(),
        benchmark=benchmark,
        modality=modality,
        organ="chest",
        label_type=label_type,
        classes=classes,
        image_size=image_size,
        channels=channels,
        primary_metric=primary,
        version=version,
        source="unit-test fixture",
        license="CC0-1.0",
        citation="",
        test_images_public=test_images_public,
        ood_level=ood_level,
        synthetic=True,
        description="tiny synthetic fixture",
    )


def tiny_splits(meta: TaskMeta, *, seed: int = 0, per_split: int = 12) -> dict[str, SplitData]:
    """Patients P0..: train/val/test_id share patients; test_ood has its own patients."""
    rng = np.random.default_rng(seed)
    k = len(meta.classes)
    out: dict[str, SplitData] = {}
    for s_index, split in enumerate(SPLITS):
        n = per_split
        shape = (n, meta.image_size, meta.image_size, meta.channels)
        images = rng.integers(0, 256, size=shape, dtype=np.uint8)
        ids = np.array([f"{meta.slug}-{split}-{i:04d}" for i in range(n)])
        offset = 100 if split == "test_ood" else 0
        patients = np.array([f"P{offset + i // 3:04d}" for i in range(n)])
        if meta.label_type == "multilabel":
            labels = rng.integers(0, 2, size=(n, k)).astype(np.uint8)
            labels[0], labels[1] = 0, 1  # both values present in every label
        else:
            labels = (np.arange(n) + s_index) % k
            labels = labels.astype(np.int64)
        out[split] = SplitData(images=images, image_ids=ids, labels=labels, patient_ids=patients)
    return out


def write_tiny_task(root: Path, slug: str, **kwargs: object) -> TaskMeta:
    per_split = int(kwargs.pop("per_split", 12))  # type: ignore[call-overload]
    meta = tiny_meta(slug, **kwargs)  # type: ignore[arg-type]
    return write_task(root, meta, tiny_splits(meta, per_split=per_split))


def make_phase(benchmark: object, slug: str, opens: object, closes: object, **fields: object) -> object:
    """A validated phase of ``benchmark`` (``full_clean`` first, as the admin does)."""
    from leaderboard.models import Phase  # lazily: the bundle factories above need no Django

    phase = Phase(
        benchmark=benchmark, slug=slug, name=fields.pop("name", slug.title()), opens=opens,
        closes=closes, **fields,
    )  # fmt: skip
    phase.full_clean()
    phase.save()
    return phase
