from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasets.bundle import load_protocol, load_split, read_meta
from datasets.importers import DatasetImportError, import_medmnist
from datasets.validate import validate_task
from tests.datasets.helpers import MEDMNIST_SIZES, data_root_entries, medmnist_arrays

WriteNpz = Callable[..., Path]


def run(npz: Path, root: Path, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = dict(
        benchmark="bench", slug="path-mnist", name="PathMNIST", modality="colour",
        organ="colon", label_type="multiclass", classes=("a", "b", "c"), source="MedMNIST v2",
        license="CC BY 4.0", citation="Yang et al. 2023",
    )
    kwargs.update(overrides)
    return import_medmnist(npz, root, **kwargs)


def test_none_mode_keeps_official_splits_and_an_empty_test_ood(
    tmp_path: Path, write_npz: WriteNpz
) -> None:
    arrays = medmnist_arrays()
    root = tmp_path / "data"
    meta = run(write_npz(arrays), root)
    assert meta.ood_level == "none" and meta.channels == 1 and meta.image_size == 8
    assert meta.primary_metric == "accuracy" and meta.synthetic is False
    assert read_meta(root, "bench", "path-mnist") == meta
    validate_task(root, "bench", "path-mnist")
    pairs = {"train": "train", "val": "val", "test_id": "test"}
    for split, source in pairs.items():
        data = load_split(root, meta, split, hidden=True)
        assert np.array_equal(data.images[..., 0], arrays[f"{source}_images"])  # type: ignore[index]
        assert np.array_equal(data.labels, arrays[f"{source}_labels"][:, 0].astype(np.int64))
        assert data.image_ids[0] == f"path-mnist_{split}_0"
        assert np.array_equal(data.patient_ids, data.image_ids)  # one pseudo-patient per image
    assert meta.splits["test_ood"].n_images == 0
    protocol = load_protocol(root, meta, "1k")
    assert protocol is not None and len(protocol["train800"]) == MEDMNIST_SIZES["train"]


def test_site_mode_turns_official_test_into_test_ood(tmp_path: Path, write_npz: WriteNpz) -> None:
    arrays = medmnist_arrays(rgb=True)
    root = tmp_path / "data"
    meta = run(write_npz(arrays), root, ood_from_test=True, seed=3)
    assert meta.ood_level == "site" and meta.channels == 3
    validate_task(root, "bench", "path-mnist")
    n_train = MEDMNIST_SIZES["train"]
    assert meta.splits["test_ood"].n_images == MEDMNIST_SIZES["test"]
    assert meta.splits["test_id"].n_images == round(0.2 * n_train)
    assert meta.splits["train"].n_images + meta.splits["test_id"].n_images == n_train
    ood = load_split(root, meta, "test_ood", hidden=True)
    assert np.array_equal(ood.images, arrays["test_images"])  # type: ignore[arg-type]
    # test_id images are official train images no longer in train.
    train = load_split(root, meta, "train").images
    test_id = load_split(root, meta, "test_id", hidden=True).images
    as_bytes = {img.tobytes() for img in arrays["train_images"]}
    assert {img.tobytes() for img in test_id} <= as_bytes  # type: ignore[union-attr]
    assert not {img.tobytes() for img in test_id} & {img.tobytes() for img in train}  # type: ignore[union-attr]


def test_patient_mode_pools_and_resplits_by_patient(tmp_path: Path, write_npz: WriteNpz) -> None:
    arrays = medmnist_arrays(patients=True)
    root = tmp_path / "data"
    meta = run(write_npz(arrays), root, seed=1)
    assert meta.ood_level == "patient"
    validate_task(root, "bench", "path-mnist")
    total = sum(MEDMNIST_SIZES.values())
    assert sum(c.n_images for c in meta.splits.values()) == total
    ood = set(load_split(root, meta, "test_ood", hidden=True).patient_ids)  # type: ignore[arg-type]
    train = set(load_split(root, meta, "train").patient_ids)  # type: ignore[arg-type]
    assert ood and not ood & train and ood <= {f"Q{i:03d}" for i in range(16)}


def test_patient_ids_from_a_separate_file(tmp_path: Path, write_npz: WriteNpz) -> None:
    arrays = medmnist_arrays(patients=True)
    ids = {k: arrays.pop(k) for k in list(arrays) if k.endswith("patient_ids")}
    root = tmp_path / "data"
    meta = run(write_npz(arrays), root, patient_ids_npz=write_npz(ids, "ids.npz"))
    assert meta.ood_level == "patient"
    assert set(load_split(root, meta, "train").patient_ids) <= set(ids["train_patient_ids"]) | set(  # type: ignore[arg-type]
        ids["val_patient_ids"]) | set(ids["test_patient_ids"])


def test_multilabel_and_resizing(tmp_path: Path, write_npz: WriteNpz) -> None:
    arrays = medmnist_arrays(multilabel=True, n_classes=4, size=10)
    root = tmp_path / "data"
    meta = run(write_npz(arrays), root, label_type="multilabel", classes=("w", "x", "y", "z"),
               image_size=16)
    assert meta.image_size == 16 and meta.primary_metric == "auroc"
    train = load_split(root, meta, "train")
    assert train.images.shape == (MEDMNIST_SIZES["train"], 16, 16, 1)  # type: ignore[union-attr]
    assert train.labels.dtype == np.uint8 and np.array_equal(train.labels, arrays["train_labels"])  # type: ignore[union-attr]
    validate_task(root, "bench", "path-mnist")


def test_duplicate_images_across_splits_are_refused_or_dropped(
    tmp_path: Path, write_npz: WriteNpz
) -> None:
    arrays = medmnist_arrays()
    arrays["test_images"][0] = arrays["train_images"][5]
    root = tmp_path / "data"
    with pytest.raises(DatasetImportError, match="identical images in train and test_id"):
        run(write_npz(arrays), root)
    assert data_root_entries(root) == []
    meta = run(write_npz(arrays), root, drop_duplicates=True)
    assert meta.splits["test_id"].n_images == MEDMNIST_SIZES["test"] - 1


def test_existing_task_is_not_replaced_without_overwrite(
    tmp_path: Path, write_npz: WriteNpz
) -> None:
    root = tmp_path / "data"
    npz = write_npz(medmnist_arrays())
    run(npz, root)
    with pytest.raises(DatasetImportError, match="already exists"):
        run(npz, root)
    assert run(npz, root, overwrite=True, seed=2).slug == "path-mnist"


def drop(key: str) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda a: a.pop(key)


def set_key(key: str, value: Callable[[dict[str, np.ndarray]], np.ndarray]) -> Callable[..., None]:
    def change(arrays: dict[str, np.ndarray]) -> None:
        arrays[key] = value(arrays)

    return change


BAD_INPUTS = [
    (drop("val_labels"), {}, "missing key 'val_labels'"),
    (set_key("train_labels", lambda a: a["train_labels"][:-1]), {},
     "key 'train_labels' has 39 rows but its images have 40"),
    (set_key("test_labels", lambda a: a["test_labels"] + 5), {},
     r"key 'test_labels': label 5 at row 0 is outside \[0, 3\)"),
    (set_key("val_labels", lambda a: np.zeros((10, 2), np.uint8)), {},
     "key 'val_labels': multiclass labels must be N or Nx1, got shape"),
    (set_key("train_labels", lambda a: np.zeros((40, 3), np.uint8)),
     {"label_type": "multilabel", "classes": ("p", "q")},
     "key 'train_labels': multilabel labels must be Nx2, got shape"),
    (set_key("train_labels", lambda a: a["train_labels"].astype(np.float32)), {},
     "key 'train_labels': labels must be integers, not float32"),
    (set_key("train_images", lambda a: np.zeros((40, 64), np.uint8)), {},
     r"key 'train_images': expected images NxHxW or NxHxWx3, got shape \(40, 64\)"),
    (set_key("val_images", lambda a: np.zeros((10, 8, 8, 2), np.uint8)), {},
     "key 'val_images': expected images"),
    (set_key("test_images", lambda a: a["test_images"].astype(np.float64) / 255), {},
     "key 'test_images': images must be uint8"),
    (set_key("test_images", lambda a: a["test_images"][:, :6, :6]), {},
     "image shapes differ between splits"),
    (set_key("val_patient_ids", lambda a: np.array(["x"] * 10)), {},
     "missing key 'train_patient_ids'"),
    (lambda a: a.update({k: v[:, :, :6] for k, v in a.items() if k.endswith("images")}), {},
     "images are 8x6; give image_size"),
]


@pytest.mark.parametrize("mutate,overrides,message", BAD_INPUTS)
def test_bad_input_is_refused_naming_the_key_and_leaves_nothing(
    tmp_path: Path, write_npz: WriteNpz, mutate: Callable[[dict[str, np.ndarray]], None],
    overrides: dict[str, Any], message: str,
) -> None:
    arrays = medmnist_arrays()
    mutate(arrays)
    root = tmp_path / "data"
    npz = write_npz(arrays)
    with pytest.raises(DatasetImportError, match=message) as caught:
        run(npz, root, **overrides)
    assert str(caught.value).startswith(f"{npz}: ")  # the file, then the key at fault
    assert data_root_entries(root) == []


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    arrays: dict[str, Any] = medmnist_arrays()
    arrays["train_labels"] = np.array([{"evil": 1}] * 40, dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **arrays)
    root = tmp_path / "data"
    with pytest.raises(DatasetImportError, match="key 'train_labels' holds an object array"):
        run(path, root)
    assert data_root_entries(root) == []


def test_not_an_npz_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetImportError, match=r"not a readable \.npz"):
        run(junk, tmp_path / "data")
    with pytest.raises(DatasetImportError, match="no such file"):
        run(tmp_path / "absent.npz", tmp_path / "data")


def test_bad_metadata_fails_before_reading_images(tmp_path: Path) -> None:
    npz = tmp_path / "never-read.npz"  # does not exist: the arguments are checked first
    with pytest.raises(DatasetImportError, match="slug 'Bad Slug'"):
        run(npz, tmp_path / "data", slug="Bad Slug")
    with pytest.raises(DatasetImportError, match="label_type 'regression'"):
        run(npz, tmp_path / "data", label_type="regression")


def test_failure_while_writing_leaves_no_temp_dir(
    tmp_path: Path, write_npz: WriteNpz, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets.bundle as bundle

    calls = {"n": 0}
    real_save = bundle._save

    def failing_save(path: Path, array: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError("disk full")
        real_save(path, array)

    monkeypatch.setattr(bundle, "_save", failing_save)
    root = tmp_path / "data"
    with pytest.raises(OSError, match="disk full"):
        run(write_npz(medmnist_arrays()), root)
    leftovers = [e for e in data_root_entries(root) if e.count("/") >= 2]
    assert leftovers == []


def test_image_size_out_of_range_is_refused(tmp_path: Path, write_npz: WriteNpz) -> None:
    with pytest.raises(DatasetImportError, match="image_size 4 is out of range"):
        run(write_npz(medmnist_arrays()), tmp_path / "data", image_size=4)
