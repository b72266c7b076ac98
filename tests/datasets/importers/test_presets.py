"""MedMNIST presets: the shipped facts, file-name recognition, filling and refusing imports."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasets.bundle import OOD_LEVELS
from datasets.importers import DatasetImportError, get_preset, import_medmnist, preset_for_file
from datasets.importers.common import make_meta
from datasets.importers.presets import LABEL_TYPES, PRESET_FILE, presets
from tests.datasets.helpers import MEDMNIST_SIZES, data_root_entries, medmnist_arrays

WriteNpz = Callable[..., Path]
TWELVE = ("pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist",
          "breastmnist", "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist")


def test_the_twelve_2d_datasets_each_make_a_valid_task() -> None:
    assert tuple(presets().names()) == TWELVE
    for key, preset in presets().items():
        assert preset.task in LABEL_TYPES and preset.ood_level in set(OOD_LEVELS) - {"patient"}
        assert preset.ood_reason and preset.citation and preset.license
        meta = make_meta(benchmark="b", slug=key, image_size=28, channels=preset.n_channels,
                         ood_level=preset.ood_level, **preset.task_fields())
        assert meta.num_classes == len(preset.labels)
    assert get_preset("breastmnist").classes == ("malignant", "normal/benign")
    assert get_preset("dermamnist").license == "CC BY-NC 4.0"
    assert [k for k, p in presets().items() if p.ood_level == "site"] == ["pathmnist"]
    assert "Apache-2.0" in PRESET_FILE.read_text(encoding="utf-8")


@pytest.mark.parametrize("name,expected", [
    ("pathmnist.npz", ("pathmnist", 28)), ("pathmnist_64.npz", ("pathmnist", 64)),
    ("/data/in/TissueMNIST_224.npz", ("tissuemnist", 224)), ("organsmnist_128.npz",
                                                              ("organsmnist", 128)),
    ("pathmnist_100.npz", None), ("pathmnist3d.npz", None), ("mine.npz", None),
    ("pathmnist_224.zip", None),
])
def test_published_file_names_are_recognised(name: str, expected: Any) -> None:
    assert preset_for_file(name) == expected


def test_unknown_preset_suggests_the_close_one() -> None:
    with pytest.raises(DatasetImportError, match="unknown MedMNIST preset 'pathmnst'; did you "
                                                 "mean 'pathmnist'"):
        get_preset("pathmnst")


def importing(npz: Path, root: Path, **kwargs: Any) -> Any:
    return import_medmnist(npz, root, benchmark="med-vtab", slug=kwargs.pop("slug", "task"),
                           **kwargs)


def test_a_preset_fills_the_task_and_flags_override(tmp_path: Path, write_npz: WriteNpz) -> None:
    arrays = medmnist_arrays(n_classes=9, rgb=True)
    npz = write_npz(arrays, "pathmnist.npz")
    meta = importing(npz, tmp_path / "a", preset="pathmnist")
    path = get_preset("pathmnist")
    assert (meta.name, meta.classes, meta.license) == ("PathMNIST", path.labels, "CC BY 4.0")
    assert meta.modality == "colour" and meta.organ == "colon" and meta.label_type == "multiclass"
    assert meta.ood_level == "site" and "Kather" in meta.citation and "MedMNIST" in meta.citation
    assert meta.splits["test_ood"].n_images == MEDMNIST_SIZES["test"]
    meta = importing(npz, tmp_path / "b", preset="pathmnist", modality="histology",
                     name="Colon tissue", ood_from_test=False, license="CC BY 4.0 (local copy)")
    assert (meta.name, meta.modality, meta.ood_level) == ("Colon tissue", "histology", "none")
    assert meta.license == "CC BY 4.0 (local copy)" and meta.classes == path.labels


def test_without_a_preset_the_missing_fields_are_named(tmp_path: Path, write_npz: WriteNpz) -> None:
    npz = write_npz(medmnist_arrays())
    with pytest.raises(DatasetImportError, match="give name, modality, label_type, classes, "
                                                 "source, license, or a preset"):
        importing(npz, tmp_path / "data")
    with pytest.raises(DatasetImportError, match=r"source\.npz: preset: unknown MedMNIST preset "
                                                 "'chestmnis'; did you mean 'chestmnist'"):
        importing(npz, tmp_path / "data", preset="chestmnis")


MISMATCHES = [
    ("pathmnist", dict(n_classes=10, rgb=True),
     r"key 'train_labels' does not fit preset 'pathmnist' \(multi-class, 9 classes, 3 channels\): "
     r".*label 9 at row 9 is outside \[0, 9\)"),
    ("chestmnist", dict(n_classes=3),
     r"key 'train_labels' does not fit preset 'chestmnist' \(multi-label, binary-class, 14 labels"
     r".*multilabel labels must be Nx14, got shape \(40, 1\)"),
    ("chestmnist", dict(n_classes=13, multilabel=True),
     r"key 'train_labels' does not fit preset 'chestmnist'.*must be Nx14, got shape \(40, 13\)"),
    ("pneumoniamnist", dict(n_classes=2, rgb=True),
     r"key 'train_images' has 3 channel\(s\) but preset 'pneumoniamnist' \(binary-class, "
     r"2 classes, 1 channel\)"),
    ("retinamnist", dict(n_classes=6, rgb=True),
     r"key 'train_labels' does not fit preset 'retinamnist' \(ordinal-regression, 5 classes, "
     r"3 channels\): label 5 at row 5 is outside \[0, 5\)"),
]


@pytest.mark.parametrize("preset,arrays,message", MISMATCHES)
def test_a_file_that_disagrees_with_its_preset_is_refused_naming_both(
    tmp_path: Path, write_npz: WriteNpz, preset: str, arrays: dict[str, Any], message: str
) -> None:
    npz = write_npz(medmnist_arrays(**arrays), f"{preset}_64.npz")
    with pytest.raises(DatasetImportError, match=f"{preset}_64.npz: {message}"):
        importing(npz, tmp_path / "data", preset=preset)
    assert data_root_entries(tmp_path / "data") == []


def test_explicit_classes_are_checked_against_the_file_not_the_preset(
    tmp_path: Path, write_npz: WriteNpz
) -> None:
    npz = write_npz(medmnist_arrays(n_classes=3, rgb=True), "pathmnist.npz")
    meta = importing(npz, tmp_path / "data", preset="pathmnist", classes=("a", "b", "c"))
    assert meta.classes == ("a", "b", "c") and meta.name == "PathMNIST"


def _medmnist_info() -> dict[str, Any]:
    """``medmnist.INFO``, read from the package's info.py alone: importing ``medmnist`` itself
    imports torch and its dataset classes, which takes seconds."""
    found = importlib.util.find_spec("medmnist")
    if found is None or not found.submodule_search_locations:
        pytest.skip("medmnist is not installed (it is in the dev requirements)")
    path = Path(next(iter(found.submodule_search_locations))) / "info.py"
    spec = importlib.util.spec_from_file_location("medmnist_info_only", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.INFO)


def test_the_preset_file_matches_medmnist_info() -> None:
    """Dev tier only: medmnist needs torch, so it is installed with the dev requirements."""
    info = _medmnist_info()
    for key, preset in presets().items():
        published = info[key]
        assert preset.name == published["python_class"], key
        assert preset.task == published["task"], key
        labels = [published["label"][str(i)] for i in range(len(published["label"]))]
        assert list(preset.labels) == labels, key
        assert preset.n_channels == published["n_channels"], key
        assert preset.n_samples == published["n_samples"], key
        assert preset.license == published["license"], key


def test_the_label_arrays_fit_the_published_sizes() -> None:
    # Each preset's split sizes sum to the published total; a typo in the file would show here.
    totals = {"pathmnist": 107180, "chestmnist": 112120, "octmnist": 109309,
              "tissuemnist": 236386, "dermamnist": 10015}
    for key, total in totals.items():
        assert sum(get_preset(key).n_samples.values()) == total
    assert np.all([set(p.n_samples) == {"train", "val", "test"} for _, p in presets().items()])
