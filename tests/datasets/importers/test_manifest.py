from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from datasets.bundle import SPLITS, load_split
from datasets.importers import DatasetImportError, import_manifest
from datasets.validate import validate_task
from tests.datasets.helpers import data_root_entries, manifest_rows

WriteManifest = Callable[..., Path]


def run(manifest: Path, root: Path, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = dict(
        benchmark="bench", slug="cxr-site", name="Chest X-ray", modality="xray", organ="chest",
        label_type="binary", classes=("normal", "pneumonia"), image_size=8, channels=1,
        source="hospital export", license="internal", citation="",
    )
    kwargs.update(overrides)
    return import_manifest(manifest, root, **kwargs)


def all_loaded(root: Path, meta: Any) -> dict[str, Any]:
    return {s: load_split(root, meta, s, hidden=True) for s in SPLITS}


def test_manifest_without_split_column_is_split_by_patient(
    tmp_path: Path, write_manifest: WriteManifest
) -> None:
    rows = manifest_rows(n_patients=15, per_patient=4)
    manifest = write_manifest(rows, size=12)
    root = tmp_path / "data"
    meta = run(manifest, root, seed=5)
    assert meta.ood_level == "patient" and meta.image_size == 8
    validate_task(root, "bench", "cxr-site")
    loaded = all_loaded(root, meta)
    assert sum(len(d) for d in loaded.values()) == len(rows)
    assert loaded["train"].images.shape[1:] == (8, 8, 1)
    # Each stored image is the resized file of the row with the same patient and label.
    by_key: dict[tuple[str, int], list[bytes]] = {}
    for row in rows:
        with Image.open(tmp_path / row["path"]) as img:
            pixels = np.asarray(img.convert("L").resize((8, 8), Image.Resampling.LANCZOS))
        by_key.setdefault((row["patient_id"], int(row["label"])), []).append(pixels.tobytes())
    for data in loaded.values():
        for image, label, patient in zip(data.images, data.labels, data.patient_ids, strict=True):
            assert image[..., 0].tobytes() in by_key[(str(patient), int(label))]


def test_manifest_with_split_column_and_rgb_multilabel(
    tmp_path: Path, write_manifest: WriteManifest
) -> None:
    plan = [("train", "A"), ("train", "A"), ("test_id", "A"), ("train", "B"), ("val", "B"),
            ("train", "C"), ("test_ood", "D"), ("test_ood", "D"), ("test_ood", "E")]
    labels = ["fluid", "fluid;scar", "", "1", "drusen;0", "scar", "2", "fluid", "drusen"]
    rows = [{"path": f"images/i{i}.png", "labels": lab, "patient_id": pid, "split": split}
            for i, ((split, pid), lab) in enumerate(zip(plan, labels, strict=True))]
    root = tmp_path / "data"
    meta = run(write_manifest(rows, mode="RGB"), root, label_type="multilabel",
               classes=("fluid", "drusen", "scar"), channels=3)
    validate_task(root, "bench", "cxr-site")
    loaded = all_loaded(root, meta)
    assert {s: len(d) for s, d in loaded.items()} == {"train": 4, "val": 1, "test_id": 1,
                                                      "test_ood": 3}
    assert loaded["train"].labels.tolist() == [[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1]]
    assert loaded["val"].labels.tolist() == [[1, 1, 0]]
    assert loaded["test_id"].labels.tolist() == [[0, 0, 0]]
    assert list(loaded["test_ood"].patient_ids) == ["D", "D", "E"]
    assert loaded["train"].images.shape == (4, 8, 8, 3)


def test_fixed_splits_breaking_patient_rules_are_refused(
    tmp_path: Path, write_manifest: WriteManifest
) -> None:
    rows = [{"path": f"images/f{i}.png", "label": "normal", "patient_id": pid, "split": split}
            for i, (pid, split) in enumerate([("A", "train"), ("A", "test_ood"), ("B", "test_id"),
                                              ("C", "test_ood")])]
    root = tmp_path / "data"
    with pytest.raises(DatasetImportError) as info:
        run(write_manifest(rows), root)
    message = str(info.value)
    assert ("line 3, column patient_id: patient 'A' is in test_ood but also in train (line 2)"
            in message)
    assert "line 4, column patient_id: patient 'B' is in test_id but has no train image" in message
    assert data_root_entries(root) == []


def test_site_level_fixed_splits_may_share_patients(
    tmp_path: Path, write_manifest: WriteManifest
) -> None:
    rows = [{"path": f"images/s{i}.png", "label": str(i % 2), "patient_id": f"P{i % 3}",
             "split": split} for i, split in enumerate(["train"] * 6 + ["test_ood"] * 3)]
    meta = run(write_manifest(rows), tmp_path / "data", ood_level="site")
    assert meta.splits["test_ood"].n_images == 3


def bad_rows() -> list[tuple[Callable[[list[dict[str, str]]], None], str]]:
    def set_cell(i: int, column: str, value: str) -> Callable[[list[dict[str, str]]], None]:
        return lambda rows: rows[i].__setitem__(column, value)

    return [
        (set_cell(2, "label", "flu"), "line 4, column label: unknown label 'flu'"),
        (set_cell(0, "label", "7"), "line 2, column label: unknown label '7'"),
        (set_cell(5, "patient_id", " "), "line 7, column patient_id: empty patient id"),
        (set_cell(3, "path", "images/p0_0.png"), r"line 5, column path: duplicate of line 2"),
        (set_cell(4, "path", "images/absent.png"),
         "line 6, column path: no such image file 'images/absent.png'"),
        (set_cell(1, "path", ""), "line 3, column path: empty path"),
    ]


@pytest.mark.parametrize("mutate,message", bad_rows())
def test_bad_rows_name_line_and_column(
    tmp_path: Path, write_manifest: WriteManifest,
    mutate: Callable[[list[dict[str, str]]], None], message: str,
) -> None:
    rows = manifest_rows()
    manifest = write_manifest(rows)  # images for the original paths
    mutate(rows)
    write_manifest(rows, images=False)
    root = tmp_path / "data"
    with pytest.raises(DatasetImportError, match=message):
        run(manifest, root)
    assert data_root_entries(root) == []


def test_bad_split_value(tmp_path: Path, write_manifest: WriteManifest) -> None:
    rows = [{**r, "split": "train"} for r in manifest_rows()]
    rows[6]["split"] = "test"
    with pytest.raises(DatasetImportError, match="line 8, column split: split 'test' is not one"):
        run(write_manifest(rows), tmp_path / "data")


def test_unreadable_image_names_its_line(tmp_path: Path, write_manifest: WriteManifest) -> None:
    rows = manifest_rows()
    manifest = write_manifest(rows)
    (tmp_path / "images" / "p1_2.png").write_bytes(b"this is not a png")
    root = tmp_path / "data"
    message = r"line 8, column path: cannot read image 'p1_2\.png'"
    with pytest.raises(DatasetImportError, match=message):
        run(manifest, root)
    assert data_root_entries(root) == []


def test_non_png_jpeg_formats_are_refused(tmp_path: Path, write_manifest: WriteManifest) -> None:
    rows = manifest_rows()
    manifest = write_manifest(rows)
    Image.new("L", (12, 12)).save(tmp_path / "images" / "p0_1.png", format="BMP")
    with pytest.raises(DatasetImportError, match="line 3, column path: cannot read image"):
        run(manifest, tmp_path / "data")


def test_jpeg_images_are_read(tmp_path: Path, write_manifest: WriteManifest) -> None:
    rows = manifest_rows()
    for row in rows:
        row["path"] = row["path"].replace(".png", ".jpg")
    manifest = write_manifest(rows, mode="RGB")
    meta = run(manifest, tmp_path / "data", channels=3)
    assert meta.channels == 3
    validate_task(tmp_path / "data", "bench", "cxr-site")


@pytest.mark.parametrize("header,message", [
    (["path", "patient_id"], r"line 1: missing column\(s\) label \(or labels\)"),
    (["file", "label", "patient_id"], r"line 1: missing column\(s\) path"),
    (["path", "label", "labels", "patient_id"], "either a label or a labels column"),
])
def test_missing_or_ambiguous_columns(
    tmp_path: Path, write_manifest: WriteManifest, header: list[str], message: str
) -> None:
    rows = [{**r, "file": r["path"], "labels": r["label"]} for r in manifest_rows()]
    with pytest.raises(DatasetImportError, match=message):
        run(write_manifest(rows, header=header), tmp_path / "data")


def test_empty_manifest_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DatasetImportError, match="the manifest is empty"):
        run(empty, tmp_path / "data")
    header_only = tmp_path / "header.csv"
    header_only.write_text("path,label,patient_id\n")
    with pytest.raises(DatasetImportError, match="has a header but no rows"):
        run(header_only, tmp_path / "data")


def test_short_row_names_its_line(tmp_path: Path, write_manifest: WriteManifest) -> None:
    manifest = write_manifest(manifest_rows())
    text = manifest.read_text().splitlines()
    text[3] = "images/p0_2.png,normal"
    manifest.write_text("\n".join(text) + "\n")
    with pytest.raises(DatasetImportError, match="line 4, column -: wrong number of fields"):
        run(manifest, tmp_path / "data")


def test_base_dir_overrides_the_manifest_folder(
    tmp_path: Path, write_manifest: WriteManifest
) -> None:
    rows = manifest_rows()
    for row in rows:
        row["path"] = row["path"].removeprefix("images/")
    manifest = write_manifest(rows)  # images still land in tmp_path/images
    with pytest.raises(DatasetImportError, match="no such image file"):
        run(manifest, tmp_path / "data")  # relative to the manifest's folder: not there
    meta = run(manifest, tmp_path / "data", base_dir=tmp_path / "images")
    assert sum(c.n_images for c in meta.splits.values()) == len(rows)
