"""Benchmark spec parsing (datasets.importers.spec) and source records (spec_run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from datasets.importers.spec import SpecError, load_spec
from datasets.importers.spec_run import (
    PENDING_DIR,
    RECORD_NAME,
    check_sources,
    import_spec,
    plan_spec,
    source_record,
)
from datasets.importers.spec_sources import preset_names
from tests.datasets.helpers import data_root_entries, medmnist_arrays

REPO = Path(__file__).resolve().parents[3]

HEAD = """
[benchmark]
slug = "mini-real"
name = "Mini real"
description = "two stand-in tasks"

[modalities]
xray = "X-ray"
colour = "Colour images"

[defaults]
drop_duplicates = true
seed = 3
"""

TASK_A = """
[[tasks]]
slug = "organ-a"
file = "a.npz"
modality = "xray"
label_type = "multiclass"
classes = ["liver", "kidney", "spleen"]
source = "stand-in"
license = "CC0-1.0"
ood_level = "site"
"""

TASK_B = """
[[tasks]]
slug = "organ-b"
file = "b.npz"
modality = "colour"
label_type = "multiclass"
classes = ["liver", "kidney", "spleen"]
source = "stand-in"
license = "CC0-1.0"
ood_level = "none"
ood_reason = "the official test split comes from the same hospital"
image_size = 16
"""


def write_spec(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(path, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def test_a_valid_spec_keeps_order_defaults_and_kinds(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, HEAD + TASK_A + TASK_B))
    assert (spec.slug, spec.name, spec.description) == ("mini-real", "Mini real",
                                                        "two stand-in tasks")
    assert list(spec.modalities) == ["xray", "colour"]
    assert [t.slug for t in spec.tasks] == ["organ-a", "organ-b"]
    a, b = spec.tasks
    assert a.kind == b.kind == "medmnist"
    assert a.options["drop_duplicates"] is True and a.options["seed"] == 3
    assert "image_size" not in a.options and b.options["image_size"] == 16
    assert b.files() == {"file": "b.npz"}
    assert spec.info()["modalities"] == {"xray": "X-ray", "colour": "Colour images"}


def test_unknown_preset_names_file_key_and_suggestion(tmp_path: Path) -> None:
    text = (HEAD + '[[tasks]]\nslug = "p"\nfile = "p.npz"\nmodality = "colour"\n'
            'preset = "pathmnistt"\n')
    path = write_spec(tmp_path, text)
    found = problems(path, presets=["pathmnist", "retina"])
    assert found == [f"{path}: tasks[0].preset: unknown preset 'pathmnistt'; did you mean "
                     "'pathmnist'? (known: pathmnist, retina)"]
    # With the preset known, label type, classes, source and licence may come from it.
    fixed = write_spec(tmp_path, text.replace("pathmnistt", "pathmnist"))
    assert load_spec(fixed, presets=["pathmnist"]).tasks[0].options["preset"] == "pathmnist"


def test_every_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    text = (HEAD.replace('xray = "X-ray"', 'charts = "Charts"')
            + TASK_A.replace('ood_level = "site"', 'ood_level = "none"\nimagesize = 224')
            + TASK_B.replace('slug = "organ-b"', 'slug = "organ-a"')
            .replace("image_size = 16", 'image_size = "16"'))
    path = write_spec(tmp_path, text)
    found = "\n".join(problems(path))
    assert f"{path}: modalities.charts: 'charts' is reserved for a board page" in found
    assert "tasks[0].imagesize: unknown key 'imagesize'; did you mean 'image_size'" in found
    assert "tasks[0].modality: unknown modality 'xray'" in found
    assert "tasks[0].ood_reason: say why this task has no OOD split" in found
    assert "tasks[1].image_size: must be an integer, not '16'" in found
    assert "tasks[1].slug: 'organ-a' is already used by tasks[0]" in found


@pytest.mark.parametrize(("change", "key", "message"), [
    (('file = "a.npz"', 'file = "a.zip"'), "tasks[0].file", "give a .npz file"),
    (('label_type = "multiclass"', 'label_type = "multi-class"'), "tasks[0].label_type",
     "unknown label_type 'multi-class'; did you mean 'multiclass'"),
    (('classes = ["liver", "kidney", "spleen"]', 'classes = ["liver"]'), "tasks[0].classes",
     "name at least two"),
    (('license = "CC0-1.0"\n', ""), "tasks[0].license", "is required (or a preset)"),
    (('ood_level = "site"', 'ood_level = "center"'), "tasks[0].ood_level",
     "unknown ood_level 'center'"),
    (('slug = "organ-a"', 'slug = "Organ A"'), "tasks[0].slug", "lower-case letters"),
    (('ood_level = "site"', "image_size = 4"), "tasks[0].image_size", "out of range (8..1024)"),
    (('ood_level = "site"', "ood_fraction = 1.5"), "tasks[0].ood_fraction", "strictly between"),
    (('ood_level = "site"', "drop_duplicates = 1"), "tasks[0].drop_duplicates",
     "must be true or false"),
])
def test_bad_task_values_are_named(
    tmp_path: Path, change: tuple[str, str], key: str, message: str
) -> None:
    path = write_spec(tmp_path, HEAD + TASK_A.replace(*change))
    found = problems(path)
    assert any(p.startswith(f"{path}: {key}: ") and message in p for p in found), found


@pytest.mark.parametrize(("text", "message"), [
    ("[benchmark\n", "not valid TOML"),
    ('[modalities]\nxray = "X-ray"\n' + TASK_A, "benchmark.slug: is required"),
    ('[benchmark]\nslug = "b"\n' + TASK_A, "modalities: name at least one modality"),
    (HEAD, "tasks: give at least one [[tasks]] table"),
    ("spec_version = 2\n" + HEAD + TASK_A, "spec_version: 2 is not supported"),
    (HEAD.replace("[defaults]", "[defaults]\nslug = 'x'") + TASK_A, "defaults.slug: unknown key"),
    ("benchmarks = 1\n" + HEAD + TASK_A, "(top level).benchmarks: unknown key 'benchmarks'; did "
                                         "you mean 'benchmark'?"),
])
def test_bad_spec_structure_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = write_spec(tmp_path, text)
    found = problems(path)
    assert all(p.startswith(f"{path}: ") for p in found)
    assert any(message in p for p in found), found


def test_missing_spec_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.toml") == [f"{tmp_path / 'nope.toml'}: no such file"]


SYNTH = """
[benchmark]
slug = "med-vtab-mini"

[modalities]
colour = "Colour images"
xray = "X-ray"

[[tasks]]
synthetic = "derm-synth"
scale = 0.05
image_size = 16
"""


def test_synthetic_tasks_keep_the_generators_names(tmp_path: Path) -> None:
    task = load_spec(write_spec(tmp_path, SYNTH)).tasks[0]
    assert (task.kind, task.slug, task.modality) == ("synthetic", "derm-synth", "colour")
    assert task.files() == {}
    wrong = SYNTH.replace('slug = "med-vtab-mini"', 'slug = "other"').replace(
        "scale = 0.05", 'modality = "xray"\nscale = 0.05')
    found = "\n".join(problems(write_spec(tmp_path, wrong)))
    assert "tasks[0].modality: the generator's task 'derm-synth' has modality 'colour'" in found
    assert "tasks[0].synthetic: the generator writes its tasks into benchmark 'med-vtab-mini'" \
        in found
    typo = SYNTH.replace('"derm-synth"', '"derm-synt"')
    assert "unknown synthetic task 'derm-synt'; did you mean 'derm-synth'" in "\n".join(
        problems(write_spec(tmp_path, typo)))


@pytest.mark.parametrize("name", ["med-vtab-mini.toml", "medmnist-plus-224.toml"])
def test_shipped_specs_are_valid(name: str) -> None:
    spec = load_spec(REPO / "specs" / name, presets=preset_names())
    assert spec.tasks and {t.modality for t in spec.tasks} <= set(spec.modalities)


def test_medmnist_plus_spec_groups_the_twelve_datasets() -> None:
    spec = load_spec(REPO / "specs" / "medmnist-plus-224.toml", presets=preset_names())
    assert len(spec.tasks) == 12 and list(spec.modalities) == ["colour", "xray", "ct-oct", "other"]
    assert all(t.options["image_size"] == 224 for t in spec.tasks)
    assert {t.options["ood_level"] for t in spec.tasks} <= {"site", "none"}
    assert len({t.options["preset"] for t in spec.tasks}) == 12


# --- source records -------------------------------------------------------------------------


def stand_in(folder: Path, name: str, seed: int = 0) -> Path:
    path = folder / name
    np.savez(path, **medmnist_arrays(seed=seed, size=12))  # type: ignore[arg-type]
    return path


def test_missing_source_files_are_named_before_any_import(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, HEAD + TASK_A + TASK_B))
    stand_in(tmp_path, "a.npz")
    with pytest.raises(SpecError) as info:
        check_sources(spec, tmp_path)
    assert info.value.problems == [
        f"{spec.path}: tasks[1].file: no such file {tmp_path / 'b.npz'}"
    ]
    root = tmp_path / "data"
    with pytest.raises(SpecError):
        import_spec(spec, tmp_path, root)
    assert data_root_entries(root) == []


def test_record_key_follows_content_and_options(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, HEAD + TASK_A))
    stand_in(tmp_path, "a.npz")
    first = source_record(spec, spec.tasks[0], tmp_path)
    assert source_record(spec, spec.tasks[0], tmp_path)["key"] == first["key"]
    no_site = TASK_A.replace('"site"', '"none"\nood_reason = "r"')
    other = load_spec(write_spec(tmp_path, HEAD + no_site, "other.toml"))
    assert source_record(other, other.tasks[0], tmp_path)["key"] != first["key"]
    stand_in(tmp_path, "a.npz", seed=1)
    changed = source_record(spec, spec.tasks[0], tmp_path, previous=first)
    assert changed["key"] != first["key"]
    assert changed["files"]["file"]["sha256"] != first["files"]["file"]["sha256"]


def test_unchanged_size_and_time_reuse_the_recorded_hash(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, HEAD + TASK_A))
    source = stand_in(tmp_path, "a.npz")
    first = source_record(spec, spec.tasks[0], tmp_path)
    planted = json.loads(json.dumps(first))
    planted["files"]["file"]["sha256"] = "0" * 64
    assert source_record(spec, spec.tasks[0], tmp_path, previous=planted)["files"]["file"][
        "sha256"] == "0" * 64
    verified = source_record(spec, spec.tasks[0], tmp_path, previous=planted, verify=True)
    assert verified["files"]["file"]["sha256"] == first["files"]["file"]["sha256"]
    os.utime(source, ns=(1, 1))
    touched = source_record(spec, spec.tasks[0], tmp_path, previous=planted)
    assert touched["files"]["file"]["sha256"] == first["files"]["file"]["sha256"]


def test_import_skip_and_adopt_a_finished_import(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, HEAD + TASK_A + TASK_B))
    stand_in(tmp_path, "a.npz")
    stand_in(tmp_path, "b.npz", seed=2)
    root = tmp_path / "data"
    outcomes = import_spec(spec, tmp_path, root)
    assert [o.status for o in outcomes] == ["imported", "imported"]
    assert outcomes[0].meta.ood_level == "site" and outcomes[1].meta.ood_level == "none"
    assert outcomes[1].meta.image_size == 16
    assert "same hospital" in outcomes[1].meta.description
    record = root / "hidden" / "mini-real" / "organ-b" / RECORD_NAME
    assert json.loads(record.read_text())["key"] == source_record(
        spec, spec.tasks[1], tmp_path)["key"]
    assert [o.status for o in import_spec(spec, tmp_path, root)] == ["skipped", "skipped"]
    # A run that wrote the task but died before moving its record: the rerun adopts the import.
    pending = root / "hidden" / "mini-real" / PENDING_DIR / "organ-b.json"
    pending.parent.mkdir(parents=True, exist_ok=True)
    os.replace(record, pending)
    assert [p.state for p in plan_spec(spec, tmp_path, root)] == ["current", "adopt"]
    assert [o.status for o in import_spec(spec, tmp_path, root)] == ["skipped", "imported"]
    assert record.is_file() and not pending.exists()
    assert [p.state for p in plan_spec(spec, tmp_path, root)] == ["current", "current"]
