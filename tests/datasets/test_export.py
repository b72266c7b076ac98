from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import BundleError, SplitData, TaskMeta, load_protocol, write_task
from datasets.export import (
    NPZ_FORMAT,
    export_public_npz,
    public_task,
    read_public_npz,
    sample_submission_csv,
    write_sample_submission_zip,
)
from datasets.splits import build_1k_protocol
from tests.datasets.helpers import make_meta, make_splits

LABELLED = {f"{s}_{a}" for s in ("train", "val") for a in ("images", "labels", "patient_ids",
                                                           "image_ids")}
TEST_PUBLIC = {f"{s}_{a}" for s in ("test_id", "test_ood") for a in ("images", "image_ids")}
META = {"format", "task_json", "task_slug", "task_benchmark", "task_version", "task_label_type",
        "task_classes"}
PROTOCOL_1K = {"protocol_1k_train800", "protocol_1k_val200"}


def test_public_npz_holds_exactly_the_public_arrays(tmp_path: Path, meta: TaskMeta,
                                                    splits: dict[str, SplitData]) -> None:
    written = write_task(tmp_path, meta, splits)
    out = tmp_path / "download.npz"
    export_public_npz(tmp_path, written, out)
    with np.load(out, allow_pickle=False) as npz:
        assert set(npz.files) == LABELLED | TEST_PUBLIC | META
        assert not any(k.startswith("test") and ("label" in k or "patient" in k) for k in npz.files)
        for split in ("train", "val"):
            for array in ("images", "labels", "patient_ids", "image_ids"):
                assert np.array_equal(npz[f"{split}_{array}"], getattr(splits[split], array))
        for split in ("test_id", "test_ood"):
            assert np.array_equal(npz[f"{split}_images"], splits[split].images)  # type: ignore[arg-type]
            assert np.array_equal(npz[f"{split}_image_ids"], splits[split].image_ids)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".download")] == []


def test_public_npz_without_test_keys_when_test_images_are_hidden(tmp_path: Path) -> None:
    meta = make_meta(test_images_public=False)
    written = write_task(tmp_path, meta, make_splits(meta))
    buffer = io.BytesIO()
    export_public_npz(tmp_path, written, buffer)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        assert set(npz.files) == LABELLED | META


def test_public_npz_never_reads_the_hidden_tree(tmp_path: Path, meta: TaskMeta,
                                                splits: dict[str, SplitData]) -> None:
    written = write_task(tmp_path, meta, splits)
    public_only = tmp_path / "public-only"
    (public_only / "public").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "public").rename(public_only / "public")
    buffer = io.BytesIO()
    export_public_npz(public_only, written, buffer)  # works without any hidden tree
    assert buffer.tell() > 0


def write_with_1k(root: Path, meta: TaskMeta) -> tuple[TaskMeta, dict[str, np.ndarray]]:
    splits = make_splits(meta)
    protocol = build_1k_protocol(len(splits["train"]), len(splits["val"]), seed=3,
                                 train_labels=splits["train"].labels, val_labels=splits["val"].labels)
    # Fewer than 800 / 200 images: take a strict subset so the indices say something.
    protocol = {"train800": protocol["train800"][::2], "val200": protocol["val200"][::2]}
    return write_task(root, meta, splits, {"1k": protocol}), protocol


def test_download_carries_the_task_metadata_and_the_1k_indices(tmp_path: Path) -> None:
    written, protocol = write_with_1k(tmp_path, make_meta(label_type="multilabel", version="7",
                                                          classes=("x", "y", "z")))
    out = tmp_path / "download.npz"
    export_public_npz(tmp_path, written, out)
    with np.load(out, allow_pickle=False) as npz:
        assert set(npz.files) == LABELLED | TEST_PUBLIC | META | PROTOCOL_1K
        assert all(npz[k].dtype != object for k in npz.files)
        assert str(npz["format"]) == NPZ_FORMAT
        assert npz["task_slug"].shape == () and str(npz["task_slug"]) == "tiny-task"
        assert str(npz["task_benchmark"]) == "bench" and str(npz["task_version"]) == "7"
        assert str(npz["task_label_type"]) == "multilabel"
        assert npz["task_classes"].tolist() == ["x", "y", "z"]
        assert TaskMeta.from_json(json.loads(str(npz["task_json"]))) == written
        for subset, idx in protocol.items():
            assert npz[f"protocol_1k_{subset}"].dtype == np.int64
            assert np.array_equal(npz[f"protocol_1k_{subset}"], idx)


@pytest.mark.parametrize("public_test", [True, False])
def test_reading_the_download_gives_the_bundle_task(tmp_path: Path, public_test: bool) -> None:
    written, _ = write_with_1k(tmp_path, make_meta(test_images_public=public_test))
    out = tmp_path / "download.npz"
    export_public_npz(tmp_path, written, out)
    bundle, download = public_task(tmp_path, written), read_public_npz(out)
    assert download.meta == written
    assert download.protocols.keys() == {"1k"}
    for subset, idx in load_protocol(tmp_path, written, "1k").items():  # type: ignore[union-attr]
        assert np.array_equal(download.protocols["1k"][subset], idx)
    splits = ("train", "val", "test_id", "test_ood") if public_test else ("train", "val")
    for split in splits:
        a, b = bundle.split(split), download.split(split)
        for key in ("images", "image_ids", "labels", "patient_ids"):
            assert np.array_equal(getattr(a, key), getattr(b, key)), (split, key)
    if not public_test:
        with pytest.raises(BundleError, match="test images are hidden"):
            download.split("test_id")


def test_a_task_without_protocol_indices_has_none_in_the_download(
        tmp_path: Path, meta: TaskMeta, splits: dict[str, SplitData]) -> None:
    written = write_task(tmp_path, meta, splits)
    export_public_npz(tmp_path, written, tmp_path / "d.npz")
    task = read_public_npz(tmp_path / "d.npz")
    assert task.protocol("full") is None
    with pytest.raises(BundleError, match="tiny-task: this task has no '1k' protocol"):
        task.protocol("1k")


def _rewrite(src: Path, dst: Path, drop: tuple[str, ...] = (), **extra: np.ndarray) -> Path:
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if k not in drop}
    np.savez(dst, **{**arrays, **extra})  # type: ignore[arg-type]
    return dst


@pytest.mark.parametrize("change,needle", [
    (lambda good, bad: bad.write_bytes(b"not a zip"), "not an .npz file"),
    (lambda good, bad: _rewrite(good, bad, drop=("task_json",)), "download the task again"),
    (lambda good, bad: _rewrite(good, bad, format=np.array("medvtab-download/0")),
     "format 'medvtab-download/0' is not"),
    (lambda good, bad: _rewrite(good, bad, task_json=np.array("{")), "'task_json' is not valid JSON"),
    (lambda good, bad: _rewrite(good, bad, task_json=np.array(json.dumps({"slug": "x"}))),
     "missing field"),
    (lambda good, bad: _rewrite(good, bad, drop=("val_labels",)), "missing key.*val_labels"),
    (lambda good, bad: _rewrite(good, bad, protocol_1k_val200=np.array(["a"])),
     "'protocol_1k_val200' must be a 1-d integer array"),
])
def test_a_bad_download_is_refused_with_the_reason(tmp_path: Path, meta: TaskMeta,
                                                    splits: dict[str, SplitData],
                                                    change: object, needle: str) -> None:
    written, _ = write_with_1k(tmp_path, meta)
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    export_public_npz(tmp_path, written, good)
    change(good, bad)  # type: ignore[operator]
    with pytest.raises(BundleError, match=needle):
        read_public_npz(bad)


def test_a_pickled_or_mismatched_split_is_refused_when_read(tmp_path: Path, meta: TaskMeta) -> None:
    written, _ = write_with_1k(tmp_path, meta)
    good = tmp_path / "good.npz"
    export_public_npz(tmp_path, written, good)
    with np.load(good, allow_pickle=False) as npz:
        labels, images = npz["train_labels"], npz["val_images"]
    pickled = np.array([object()] * len(labels), dtype=object)
    task = read_public_npz(_rewrite(good, tmp_path / "p.npz", train_labels=pickled))
    with pytest.raises(BundleError, match="'train_labels' holds Python objects"):
        task.split("train")
    task = read_public_npz(_rewrite(good, tmp_path / "s.npz", train_labels=labels[:-1]))
    with pytest.raises(BundleError, match="the train arrays differ in length"):
        task.split("train")
    task = read_public_npz(_rewrite(good, tmp_path / "f.npz", val_images=images.astype(float)))
    with pytest.raises(BundleError, match="val_images must be uint8"):
        task.split("val")


def parse(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


@pytest.mark.parametrize("label_type,classes", [
    ("multiclass", ("a", "b", "c")), ("binary", ("neg", "pos")),
    ("multiclass", tuple(f"c{i}" for i in range(7))), ("multilabel", ("x", "y", "z")),
])
def test_sample_submission_parses_back(tmp_path: Path, label_type: str,
                                       classes: tuple[str, ...]) -> None:
    meta = make_meta(label_type=label_type, classes=classes)
    splits = make_splits(meta)
    written = write_task(tmp_path, meta, splits)
    header, rows = parse(sample_submission_csv(tmp_path, written))
    assert header == ["image_id", *classes]
    expected_ids = [*splits["test_id"].image_ids, *splits["test_ood"].image_ids]
    assert [r[0] for r in rows] == expected_ids
    assert len(set(r[0] for r in rows)) == len(rows)
    probs = np.array([[float(v) for v in r[1:]] for r in rows])
    assert probs.shape == (len(expected_ids), len(classes))
    if label_type == "multilabel":
        assert np.all(probs == 0.5)
    else:
        assert np.all(np.abs(probs.sum(axis=1) - 1.0) < 1e-9)
        assert np.all(np.abs(probs - 1.0 / len(classes)) < 1e-5)


def test_sample_submission_refused_when_test_images_are_hidden(tmp_path: Path) -> None:
    meta = make_meta(test_images_public=False)
    written = write_task(tmp_path, meta, make_splits(meta))
    with pytest.raises(BundleError, match="test images are hidden"):
        sample_submission_csv(tmp_path, written)


def test_sample_submission_zip_for_a_benchmark(tmp_path: Path) -> None:
    public = [make_meta(slug="task-one"), make_meta(slug="task-two", ood_level="none")]
    hidden = make_meta(slug="task-three", test_images_public=False)
    for meta in [*public, hidden]:
        write_task(tmp_path, meta, make_splits(meta))
    out = tmp_path / "sample.zip"
    included = write_sample_submission_zip(tmp_path, "bench", out)
    assert included == ["task-one", "task-two"]
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["task-one.csv", "task-two.csv"]
        for meta in public:
            text = archive.read(f"{meta.slug}.csv").decode()
            assert text == sample_submission_csv(tmp_path, meta)
    with pytest.raises(BundleError, match="no task with public test images"):
        write_sample_submission_zip(tmp_path, "other-bench", io.BytesIO())
