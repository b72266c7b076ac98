from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import BundleError, SplitData, TaskMeta, write_task
from datasets.export import export_public_npz, sample_submission_csv, write_sample_submission_zip
from tests.datasets.helpers import make_meta, make_splits

LABELLED = {f"{s}_{a}" for s in ("train", "val") for a in ("images", "labels", "patient_ids",
                                                           "image_ids")}
TEST_PUBLIC = {f"{s}_{a}" for s in ("test_id", "test_ood") for a in ("images", "image_ids")}


def test_public_npz_holds_exactly_the_public_arrays(tmp_path: Path, meta: TaskMeta,
                                                    splits: dict[str, SplitData]) -> None:
    written = write_task(tmp_path, meta, splits)
    out = tmp_path / "download.npz"
    export_public_npz(tmp_path, written, out)
    with np.load(out, allow_pickle=False) as npz:
        assert set(npz.files) == LABELLED | TEST_PUBLIC
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
        assert set(npz.files) == LABELLED


def test_public_npz_never_reads_the_hidden_tree(tmp_path: Path, meta: TaskMeta,
                                                splits: dict[str, SplitData]) -> None:
    written = write_task(tmp_path, meta, splits)
    public_only = tmp_path / "public-only"
    (public_only / "public").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "public").rename(public_only / "public")
    buffer = io.BytesIO()
    export_public_npz(public_only, written, buffer)  # works without any hidden tree
    assert buffer.tell() > 0


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
