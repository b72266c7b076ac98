from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import BundleError, SplitData, TaskMeta, task_dir, write_task
from datasets.splits import build_1k_protocol
from datasets.validate import check_split_rules, validate_task
from tests.datasets.helpers import make_meta, make_splits


def move_patient(splits: dict[str, SplitData], src: str, dst: str, patient: str) -> None:
    """Relabel one image of ``dst`` as belonging to ``patient`` (seen in ``src``)."""
    assert patient in set(splits[src].patient_ids)  # type: ignore[arg-type]
    splits[dst].patient_ids = splits[dst].patient_ids.copy()  # type: ignore[union-attr]
    splits[dst].patient_ids[0] = patient  # type: ignore[index]


def protocol_for(splits: dict[str, SplitData]) -> dict[str, dict[str, np.ndarray]]:
    return {"1k": build_1k_protocol(len(splits["train"]), len(splits["val"]), seed=0)}


def test_a_sound_task_has_no_violations(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    assert check_split_rules(meta, splits) == []


@pytest.mark.parametrize("label_type,classes", [
    ("binary", ("neg", "pos")), ("multilabel", ("x", "y", "z", "w")), ("ordinal", ("0", "1", "2")),
])
def test_sound_tasks_of_every_label_type(label_type: str, classes: tuple[str, ...]) -> None:
    meta = make_meta(label_type=label_type, classes=classes, channels=3)
    assert check_split_rules(meta, make_splits(meta, seed=4)) == []


@pytest.mark.parametrize("other", ["train", "val", "test_id"])
def test_ood_patient_seen_elsewhere(
    meta: TaskMeta, splits: dict[str, SplitData], other: str
) -> None:
    ood_patient = str(splits["test_ood"].patient_ids[0])  # type: ignore[index]
    move_patient(splits, "test_ood", other, ood_patient)
    expected = [f"test_ood patients also in {other}: {ood_patient} (1 patient)"]
    if other == "test_id":  # the moved image's patient has no train image either
        expected.append(f"test_id patients not in train: {ood_patient} (1 patient)")
    assert check_split_rules(meta, splits) == expected


def test_test_id_patient_missing_from_train(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    splits["test_id"].patient_ids = splits["test_id"].patient_ids.copy()  # type: ignore[union-attr]
    splits["test_id"].patient_ids[:2] = ["NEW1", "NEW2"]  # type: ignore[index]
    assert check_split_rules(meta, splits) == [
        "test_id patients not in train: NEW1, NEW2 (2 patients)"
    ]


def test_patient_rules_only_apply_to_patient_level_ood(splits: dict[str, SplitData]) -> None:
    site = make_meta(ood_level="site")
    move_patient(splits, "test_ood", "train", str(splits["test_ood"].patient_ids[0]))  # type: ignore[index]
    assert check_split_rules(site, splits) == []
    assert check_split_rules(make_meta(), splits) != []


def test_repeated_image_ids(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    splits["test_ood"].image_ids = splits["test_ood"].image_ids.copy()
    splits["test_ood"].image_ids[0] = splits["train"].image_ids[3]
    assert check_split_rules(meta, splits) == [
        f"image ids repeated: {splits['train'].image_ids[3]} (1 id)"
    ]


def test_identical_image_content_in_two_splits(
    meta: TaskMeta, splits: dict[str, SplitData]
) -> None:
    splits["test_id"].images[1] = splits["train"].images[0]  # type: ignore[index]
    problems = check_split_rules(meta, splits)
    assert problems == [
        f"identical images in train and test_id: test_id {splits['test_id'].image_ids[1]} (1 image)"
    ]


def test_mismatched_lengths(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    splits["val"].labels = splits["val"].labels[:-1]  # type: ignore[index]
    n = len(splits["val"])
    assert f"val: labels has {n - 1} rows but image_ids has {n}" in check_split_rules(meta, splits)


def test_labels_out_of_range(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    splits["train"].labels[2] = 3  # type: ignore[index]
    assert check_split_rules(meta, splits) == [
        "train: 1 labels outside [0, 3) (first: row 2 value 3)"
    ]


def test_label_dtype_and_shape(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    splits["val"].labels = splits["val"].labels.astype(np.int32)  # type: ignore[union-attr]
    n = len(splits["val"])
    assert check_split_rules(meta, splits) == [
        f"val: multiclass labels must be int64 of shape (N,), not int32 shape ({n},)"
    ]


def test_multilabel_labels_must_be_uint8_zero_one() -> None:
    meta = make_meta(label_type="multilabel", classes=("x", "y", "z"))
    splits = make_splits(meta)
    splits["train"].labels[4, 1] = 2  # type: ignore[index]
    splits["val"].labels = splits["val"].labels[:, :2]  # type: ignore[index]
    n_val = len(splits["val"])
    assert check_split_rules(meta, splits) == [
        "train: multilabel labels must be 0/1; 1 rows are not (first row 4)",
        f"val: multilabel labels must be uint8 Nx3, not uint8 shape ({n_val}, 2)",
    ]


def test_image_dtype_and_shape(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    n = len(splits["train"])
    splits["train"].images = splits["train"].images.astype(np.float32)  # type: ignore[union-attr]
    splits["val"].images = splits["val"].images[:, :4]  # type: ignore[index]
    problems = check_split_rules(meta, splits)
    assert "train: images dtype is float32, expected uint8" in problems
    m = len(splits["val"])
    assert f"val: images shape is ({m}, 4, 8, 1), expected Nx8x8x1" in problems
    assert len(problems) == 2, problems
    assert n > 0


def test_channels_must_match_meta(splits: dict[str, SplitData]) -> None:
    meta = make_meta(channels=3)
    assert any("expected Nx8x8x3" in p for p in check_split_rules(meta, splits))


def test_bad_image_ids(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    splits["train"].image_ids = splits["train"].image_ids.astype(object)
    assert "train: image_ids must be unicode strings, not object" in check_split_rules(meta, splits)
    splits["train"].image_ids = splits["train"].image_ids.astype(str)
    splits["train"].image_ids[0] = "has,comma"
    assert any(p.startswith("train: image ids empty or containing") and "has,comma" in p
               for p in check_split_rules(meta, splits))


def test_ood_level_and_empty_splits(splits: dict[str, SplitData]) -> None:
    none = make_meta(ood_level="none")
    n_ood = len(splits["test_ood"])
    assert f"ood_level is 'none' but test_ood has {n_ood} images" in check_split_rules(none, splits)
    empty = make_splits(none)
    assert len(empty["test_ood"]) == 0 and check_split_rules(none, empty) == []
    assert "ood_level is 'patient' but test_ood is empty" in check_split_rules(make_meta(), empty)


def test_missing_split(meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    del splits["val"]
    assert check_split_rules(meta, splits) == ["missing split(s): val"]


def test_many_violations_are_all_reported_with_capped_examples(
    meta: TaskMeta, splits: dict[str, SplitData]
) -> None:
    ood = splits["test_ood"]
    train_patients = np.unique(splits["train"].patient_ids)  # type: ignore[arg-type]
    ood.patient_ids = np.resize(train_patients, len(ood))
    problems = check_split_rules(meta, splits)
    n = len(np.unique(ood.patient_ids))
    shown = ", ".join(sorted(np.unique(ood.patient_ids))[:5])
    assert problems[0] == f"test_ood patients also in train: {shown}, ... ({n} patients)"
    assert problems[0].startswith("test_ood patients also in train: ")
    assert problems[0].endswith(f", ... ({n} patients)") and n > 5


# validate_task: the same rules on a bundle on disk


def write(root: Path, meta: TaskMeta, splits: dict[str, SplitData]) -> TaskMeta:
    return write_task(root, meta, splits, protocol_for(splits))


def test_validate_task_accepts_a_written_task(tmp_path: Path, meta: TaskMeta,
                                              splits: dict[str, SplitData]) -> None:
    write(tmp_path, meta, splits)
    validate_task(tmp_path, meta.benchmark, meta.slug)


def test_validate_task_accepts_hidden_test_images_and_empty_ood(tmp_path: Path) -> None:
    meta = make_meta(test_images_public=False, ood_level="none")
    write(tmp_path, meta, make_splits(meta))
    validate_task(tmp_path, meta.benchmark, meta.slug)


def test_validate_task_reports_split_violations_from_hidden_arrays(
    tmp_path: Path, meta: TaskMeta, splits: dict[str, SplitData]
) -> None:
    ood_patient = str(splits["test_ood"].patient_ids[0])  # type: ignore[index]
    move_patient(splits, "test_ood", "test_id", ood_patient)
    write(tmp_path, meta, splits)
    with pytest.raises(BundleError, match=f"test_ood patients also in test_id: {ood_patient}"):
        validate_task(tmp_path, meta.benchmark, meta.slug)


def test_validate_task_reports_leaks_counts_and_protocol(
    tmp_path: Path, meta: TaskMeta, splits: dict[str, SplitData]
) -> None:
    written = write(tmp_path, meta, splits)
    public = task_dir(tmp_path, "public", meta.benchmark, meta.slug)
    hidden = task_dir(tmp_path, "hidden", meta.benchmark, meta.slug)
    shutil.copy(hidden / "test_ood" / "labels.npy", public / "test_ood" / "labels.npy")
    np.save(public / "protocols" / "1k" / "val200.npy", np.array([0, 0], dtype=np.int64))
    wrong = dataclasses.replace(written, splits={**written.splits})
    wrong.splits["val"] = dataclasses.replace(written.splits["val"], n_images=999)
    (public / "task.json").write_text(__import__("json").dumps(wrong.to_json()))
    with pytest.raises(BundleError) as info:
        validate_task(tmp_path, meta.benchmark, meta.slug)
    message = str(info.value)
    assert "hidden array in the public tree: test_ood/labels.npy" in message
    assert "task.json splits.val says SplitCounts(n_images=999" in message
    assert "protocol 1k/val200: repeated indices" in message
    assert f"protocol 1k/val200: 2 indices, expected {len(splits['val'])}" in message


def test_validate_task_requires_the_protocol_unless_told(
    tmp_path: Path, meta: TaskMeta, splits: dict[str, SplitData]
) -> None:
    write_task(tmp_path, meta, splits)
    with pytest.raises(BundleError, match="protocol 1k: missing bundle file"):
        validate_task(tmp_path, meta.benchmark, meta.slug)
    validate_task(tmp_path, meta.benchmark, meta.slug, require_protocol=False)


def test_validate_task_reports_a_missing_array(tmp_path: Path, meta: TaskMeta,
                                               splits: dict[str, SplitData]) -> None:
    write(tmp_path, meta, splits)
    (task_dir(tmp_path, "hidden", meta.benchmark, meta.slug) / "test_id" / "labels.npy").unlink()
    with pytest.raises(BundleError, match=r"bench/tiny-task: missing bundle file .*test_id/labels"):
        validate_task(tmp_path, meta.benchmark, meta.slug)
