"""Turn one spec task into a call of its importer (MedMNIST ``.npz``, CSV manifest, or the synthetic
generator), with the spec's options as the importer's keyword arguments."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from datasets.bundle import TaskMeta
from datasets.importers.common import DatasetImportError, OnSummary, Progress
from datasets.importers.spec import BenchmarkSpec, SpecTask

# Spec keys passed to the importers under the same name.
_PASSED = ("name", "organ", "label_type", "classes", "source", "license", "citation", "version",
           "seed", "image_size", "test_images_public", "drop_duplicates", "ood_fraction",
           "test_id_fraction", "val_fraction", "channels", "preset")


def description(task: SpecTask) -> str:
    """The task's description, with the reason for its OOD level: the spec's, else its preset's
    when the preset's level is the one used."""
    text = str(task.options.get("description", "")).strip()
    reason = str(task.options.get("ood_reason", "")).strip()
    if not reason and "preset" in task.options:
        from datasets.importers.presets import get_preset

        preset = get_preset(str(task.options["preset"]))
        if task.options.get("ood_level", preset.ood_level) == preset.ood_level:
            reason = preset.ood_reason.strip()
    if reason:
        text = f"{text}\n\nOut-of-distribution split: {reason}".strip()
    return text


def _common(spec: BenchmarkSpec, task: SpecTask, **extra: Any) -> dict[str, Any]:
    kwargs = {k: task.options[k] for k in _PASSED if k in task.options}
    kwargs.update(benchmark=spec.slug, slug=task.slug, modality=task.modality,
                  description=description(task), **extra)
    if "preset" not in kwargs:
        kwargs.setdefault("name", task.slug)
        kwargs.setdefault("organ", "")
        kwargs.setdefault("citation", "")
    return kwargs


def run_importer(
    spec: BenchmarkSpec, task: SpecTask, files: dict[str, Path], root: Path, *, overwrite: bool,
    progress: Progress, on_summary: OnSummary,
) -> TaskMeta:
    callbacks = {"progress": progress, "on_summary": on_summary, "overwrite": overwrite}
    if task.kind == "synthetic":
        return _synthetic(task, root)
    if task.kind == "manifest":
        from datasets.importers.manifest import import_manifest

        kwargs = _common(spec, task, **callbacks)
        if "ood_level" in task.options:
            kwargs["ood_level"] = task.options["ood_level"]
        if "base_dir" in files:
            kwargs["base_dir"] = files["base_dir"]
        return import_manifest(files["file"], root, **kwargs)
    from datasets.importers.medmnist import import_medmnist

    kwargs = _common(spec, task, **callbacks, **_medmnist_ood(task, files))
    if "patient_ids_file" in files:
        kwargs["patient_ids_npz"] = files["patient_ids_file"]
    return import_medmnist(files["file"], root, **kwargs)


def _medmnist_ood(task: SpecTask, files: dict[str, Path]) -> dict[str, Any]:
    """MedMNIST files decide ``patient`` by carrying patient ids; the spec's level must agree."""
    level = task.options.get("ood_level")
    has_ids = "patient_ids_file" in files or inline_patient_ids(files["file"])
    if level is None:
        return {}
    if (level == "patient") != has_ids:
        raise DatasetImportError(
            f"ood_level {level!r} but the source {'has' if has_ids else 'has no'} patient-id "
            "arrays (ood_level patient needs them: {train,val,test}_patient_ids, inline or in "
            "patient_ids_file)"
        )
    return {} if level == "patient" else {"ood_from_test": level == "site"}


def _synthetic(task: SpecTask, root: Path) -> TaskMeta:
    """The generator rewrites a task whose task.json differs from what it would write."""
    from datasets.synthetic import TASKS, build_task

    opts = task.options
    return build_task(root, TASKS.get(str(opts["synthetic"])), seed=int(opts.get("seed", 0)),
                      image_size=int(opts.get("image_size", 64)),
                      scale=float(opts.get("scale", 1.0)))


def preset_names() -> list[str]:
    """The MedMNIST presets a spec task may name."""
    from datasets.importers.presets import presets

    return presets().names()


def inline_patient_ids(npz_path: Path) -> bool:
    """Whether a MedMNIST-layout file carries patient-id arrays (read from the zip directory)."""
    try:
        with zipfile.ZipFile(npz_path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False  # the importer reports an unreadable file with its own message
    return any(f"{s}_patient_ids.npy" in names for s in ("train", "val", "test"))
