"""Round trip of a task through the bundle writer and reader, as the importers rely on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import (
    BundleError,
    SplitData,
    TaskMeta,
    list_tasks,
    load_protocol,
    load_split,
    read_meta,
    task_dir,
    write_task,
)
from datasets.splits import build_1k_protocol
from tests.datasets.helpers import make_meta, make_splits


def test_round_trip_with_memory_mapped_images(tmp_path: Path, meta: TaskMeta,
                                              splits: dict[str, SplitData]) -> None:
    protocol = build_1k_protocol(len(splits["train"]), len(splits["val"]), seed=0)
    written = write_task(tmp_path, meta, splits, {"1k": protocol})
    assert read_meta(tmp_path, meta.benchmark, meta.slug) == written
    assert [m.slug for m in list_tasks(tmp_path, meta.benchmark)] == [meta.slug]
    for split, data in splits.items():
        assert written.splits[split].n_images == len(data)
        assert written.splits[split].n_patients == len(np.unique(data.patient_ids))  # type: ignore[arg-type]
        loaded = load_split(tmp_path, written, split, hidden=True)
        assert isinstance(loaded.images, np.memmap)
        assert np.array_equal(loaded.images, data.images)  # type: ignore[arg-type]
        assert np.array_equal(loaded.image_ids, data.image_ids)
        assert np.array_equal(loaded.labels, data.labels)  # type: ignore[arg-type]
        assert loaded.labels.dtype == data.labels.dtype  # type: ignore[union-attr]
        assert np.array_equal(loaded.patient_ids, data.patient_ids)  # type: ignore[arg-type]
    loaded_protocol = load_protocol(tmp_path, written, "1k")
    assert loaded_protocol is not None
    assert all(np.array_equal(loaded_protocol[k], protocol[k]) for k in protocol)


def test_public_load_of_a_test_split_has_no_labels(tmp_path: Path, meta: TaskMeta,
                                                   splits: dict[str, SplitData]) -> None:
    written = write_task(tmp_path, meta, splits)
    public = load_split(tmp_path, written, "test_ood", hidden=False)
    assert public.labels is None and public.patient_ids is None
    assert not (task_dir(tmp_path, "public", meta.benchmark, meta.slug) / "test_ood"
                / "labels.npy").exists()


def test_hidden_test_images_live_in_the_hidden_tree(tmp_path: Path) -> None:
    meta = make_meta(test_images_public=False)
    written = write_task(tmp_path, meta, make_splits(meta))
    public = task_dir(tmp_path, "public", meta.benchmark, meta.slug)
    assert not (public / "test_id").exists()
    with pytest.raises(BundleError, match="test images are hidden"):
        load_split(tmp_path, written, "test_id", hidden=False)
    hidden = load_split(tmp_path, written, "test_id", hidden=True)
    assert len(hidden) == written.splits["test_id"].n_images > 0


def test_empty_test_ood_round_trips(tmp_path: Path) -> None:
    meta = make_meta(ood_level="none")
    written = write_task(tmp_path, meta, make_splits(meta))
    assert written.splits["test_ood"].n_images == 0
    loaded = load_split(tmp_path, written, "test_ood", hidden=True)
    assert len(loaded) == 0 and loaded.images.shape == (0, 8, 8, 1)  # type: ignore[union-attr]
