"""Benchmark specs: a TOML file naming a benchmark, its modalities and its tasks with their sources.

Parsing is pure and checks everything before any image is read; every problem names the file and
the key (``spec.toml: tasks[3].preset: unknown preset 'pathmnistt'; did you mean 'pathmnist'?``).
The format is documented in docs/formats.md ("Benchmark specs"); ``import_spec`` in
``datasets.importers.spec_run`` imports what a spec describes.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets.bundle import LABEL_TYPES, OOD_LEVELS, RESERVED_MODALITY_SLUGS, SLUG_CHARS
from datasets.registry import Registry

SPEC_VERSION = 1
KINDS = ("medmnist", "manifest", "synthetic")
FILE_KEYS = ("file", "patient_ids_file", "base_dir")

# Every task option, by kind. The values say what type a key holds; see docs/formats.md.
_COMMON: dict[str, type] = {
    "slug": str, "name": str, "modality": str, "ood_level": str, "ood_reason": str,
    "description": str, "seed": int, "image_size": int,
}
_FROM_FILE: dict[str, type] = {
    "file": str, "organ": str, "label_type": str, "classes": list, "source": str, "license": str,
    "citation": str, "version": str, "test_images_public": bool, "drop_duplicates": bool,
    "ood_fraction": float, "test_id_fraction": float, "val_fraction": float,
}
TASK_KEYS: dict[str, dict[str, type]] = {
    "medmnist": {**_COMMON, **_FROM_FILE, "preset": str, "patient_ids_file": str},
    "manifest": {**_COMMON, **_FROM_FILE, "base_dir": str, "channels": int},
    "synthetic": {**_COMMON, "synthetic": str, "scale": float},
}
# Without a preset these must be given; a preset supplies them for MedMNIST files.
_METADATA = ("label_type", "classes", "source", "license")
REQUIRED: dict[str, tuple[str, ...]] = {
    "medmnist": ("slug", "modality", "file", *_METADATA),
    "manifest": ("slug", "modality", "file", "image_size", "channels", *_METADATA),
    "synthetic": ("synthetic",),
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "a list of strings"}


class SpecError(ValueError):
    """A spec cannot be imported; ``problems`` lists every fault, each naming the file and key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class SpecTask:
    """One task of a spec: where its images come from and the options of its importer."""

    index: int
    kind: str
    slug: str
    modality: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"tasks[{self.index}]"

    def files(self) -> dict[str, str]:
        """The source paths (relative to the ``--from`` folder) by key."""
        return {k: str(self.options[k]) for k in FILE_KEYS if k in self.options}


@dataclass(frozen=True)
class BenchmarkSpec:
    path: Path
    slug: str
    name: str
    description: str
    modalities: dict[str, str]
    tasks: tuple[SpecTask, ...]

    def info(self) -> dict[str, object]:
        """The benchmark.json that registration reads (name, description, modality names and order)."""
        return {"name": self.name, "description": self.description,
                "modalities": dict(self.modalities)}


class _Checker:
    """Collects problems, each prefixed with the spec's file name and the key at fault."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.add(key, "must be a table")
            return {}
        return value

    def typed(self, key: str, value: Any, kind: type) -> bool:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not ok:
            self.add(key, f"must be {_TYPE_NAMES[kind]}, not {value!r}")
        return ok

    def slug(self, key: str, value: str) -> None:
        if not value or not set(value) <= SLUG_CHARS or value[0] == "-":
            self.add(key, f"{value!r} must be lower-case letters, digits and '-'")

    def unknown_keys(self, where: str, data: Mapping[str, Any], known: Collection[str]) -> None:
        for key in data:
            if key not in known:
                self.add(f"{where}.{key}", _unknown("key", key, known))

    def fail_if_any(self) -> None:
        if self.problems:
            raise SpecError(self.problems)


def load_spec(path: Path | str, *, presets: Collection[str] = ()) -> BenchmarkSpec:
    """Read and check a spec; ``presets`` are the preset names a task may use."""
    path = Path(path)
    check = _Checker(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot be read ({exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([f"{path}: not valid TOML ({exc})"]) from None
    check.unknown_keys("(top level)", data, ("spec_version", "benchmark", "modalities",
                                            "defaults", "tasks"))
    version = data.get("spec_version", SPEC_VERSION)
    if version != SPEC_VERSION:
        check.add("spec_version", f"{version!r} is not supported (this server reads "
                                  f"{SPEC_VERSION})")
    bench = _benchmark(check, check.table(data, "benchmark"))
    modalities = _modalities(check, check.table(data, "modalities"))
    defaults = _defaults(check, check.table(data, "defaults"))
    tasks = _tasks(check, data.get("tasks"), defaults, modalities,
                   presets=presets, synthetic=_synthetic_tasks())
    _synthetic_benchmark(check, bench["slug"], tasks)
    check.fail_if_any()
    return BenchmarkSpec(path=path, modalities=modalities, tasks=tuple(tasks), **bench)


def _benchmark(check: _Checker, table: dict[str, Any]) -> dict[str, str]:
    check.unknown_keys("benchmark", table, ("slug", "name", "description"))
    out = {"slug": "", "name": "", "description": ""}
    for key in out:
        value = table.get(key, "")
        if check.typed(f"benchmark.{key}", value, str):
            out[key] = value.strip()
    if not out["slug"]:
        check.add("benchmark.slug", "is required")
    else:
        check.slug("benchmark.slug", out["slug"])
    out["name"] = out["name"] or out["slug"]
    return out


def _modalities(check: _Checker, table: dict[str, Any]) -> dict[str, str]:
    """Modality slug → display name, in the spec's order (the order the boards show)."""
    out: dict[str, str] = {}
    for slug, name in table.items():
        key = f"modalities.{slug}"
        check.slug(key, slug)
        if slug in RESERVED_MODALITY_SLUGS:
            check.add(key, f"{slug!r} is reserved for a board page (reserved: "
                           f"{', '.join(sorted(RESERVED_MODALITY_SLUGS))}); choose another slug")
        if check.typed(key, name, str):
            out[slug] = name.strip() or slug
    if not table:
        check.add("modalities", "name at least one modality (slug = \"Display name\")")
    return out


def _defaults(check: _Checker, table: dict[str, Any]) -> dict[str, Any]:
    every = {k: t for keys in TASK_KEYS.values() for k, t in keys.items()}
    check.unknown_keys("defaults", table,
                       [k for k in every if k not in ("slug", "file", "synthetic")])
    return {k: v for k, v in table.items()
            if k in every and check.typed(f"defaults.{k}", v, every[k])}


def _synthetic_tasks() -> dict[str, str]:
    """The synthetic generator's task names and their modalities."""
    from datasets.synthetic import TASKS

    return {name: spec.modality for name, spec in TASKS.items()}


def _synthetic_benchmark(check: _Checker, slug: str, tasks: list[SpecTask]) -> None:
    from datasets.synthetic import BENCHMARK_SLUG

    for task in tasks:
        if task.kind == "synthetic" and slug != BENCHMARK_SLUG:
            check.add(f"{task.where}.synthetic", f"the generator writes its tasks into benchmark "
                                                 f"{BENCHMARK_SLUG!r}; set benchmark.slug to it")


def _kind(task: dict[str, Any]) -> str | None:
    if "synthetic" in task:
        return "synthetic"
    file = task.get("file")
    if isinstance(file, str) and file.lower().endswith(".npz"):
        return "medmnist"
    if isinstance(file, str) and file.lower().endswith(".csv"):
        return "manifest"
    return None


def _tasks(
    check: _Checker, raw: Any, defaults: dict[str, Any], modalities: dict[str, str], *,
    presets: Collection[str], synthetic: Mapping[str, str],
) -> list[SpecTask]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        check.add("tasks", "give at least one [[tasks]] table")
        return []
    out: list[SpecTask] = []
    seen: dict[str, int] = {}
    for index, task in enumerate(raw):
        spec = _task(check, index, task, defaults, modalities, presets, synthetic)
        if spec is None:
            continue
        if spec.slug in seen:
            check.add(f"tasks[{index}].slug",
                      f"{spec.slug!r} is already used by tasks[{seen[spec.slug]}]")
        seen.setdefault(spec.slug, index)
        out.append(spec)
    return out


def _task(
    check: _Checker, index: int, task: dict[str, Any], defaults: dict[str, Any],
    modalities: dict[str, str], presets: Collection[str], synthetic: Mapping[str, str],
) -> SpecTask | None:
    where = f"tasks[{index}]"
    kind = _kind(task)
    if kind is None:
        check.add(f"{where}.file", "give a .npz file (MedMNIST layout), a .csv manifest, or "
                                   "synthetic = \"<generator task>\"")
        return None
    keys = TASK_KEYS[kind]
    check.unknown_keys(where, task, keys)
    options = {k: v for k, v in defaults.items() if k in keys}
    options.update({k: v for k, v in task.items()
                    if k in keys and check.typed(f"{where}.{k}", v, keys[k])})
    if kind == "synthetic":
        _synthetic_defaults(check, where, options, synthetic)
    for key in REQUIRED[kind]:
        if key not in options and not (key in _METADATA and "preset" in options):
            check.add(f"{where}.{key}", "is required" + (" (or a preset)" if key in _METADATA
                                                         and kind == "medmnist" else ""))
    _values(check, where, options, modalities, presets)
    return SpecTask(index=index, kind=kind, slug=str(options.get("slug", "")),
                    modality=str(options.get("modality", "")), options=options)


def _synthetic_defaults(
    check: _Checker, where: str, options: dict[str, Any], synthetic: Mapping[str, str]
) -> None:
    """A generator task keeps its own slug and modality; the spec may only restate them."""
    name = options.get("synthetic")
    if not isinstance(name, str):
        return
    if name not in synthetic:
        check.add(f"{where}.synthetic", _unknown("synthetic task", name, synthetic))
        return
    for key, fixed in (("slug", name), ("modality", synthetic[name]), ("ood_level", "patient")):
        if options.setdefault(key, fixed) != fixed:
            check.add(f"{where}.{key}", f"the generator's task {name!r} has {key} {fixed!r}, "
                                        f"not {options[key]!r}")


_RANGES: dict[str, Callable[[Any], bool]] = {
    "image_size": lambda v: 8 <= v <= 1024,
    "channels": lambda v: v in (1, 3),
    "scale": lambda v: v > 0,
    "seed": lambda v: v >= 0,
    "ood_fraction": lambda v: 0 < v < 1,
    "test_id_fraction": lambda v: 0 < v < 1,
    "val_fraction": lambda v: 0 < v < 1,
}
_RANGE_TEXT = {"image_size": "8..1024", "channels": "1 or 3", "scale": "above 0",
               "seed": "0 or more"}


def _values(
    check: _Checker, where: str, options: dict[str, Any], modalities: dict[str, str],
    presets: Collection[str],
) -> None:
    if isinstance(options.get("slug"), str):
        check.slug(f"{where}.slug", options["slug"])
    modality = options.get("modality")
    if isinstance(modality, str) and modalities and modality not in modalities:
        check.add(f"{where}.modality", _unknown("modality", modality, modalities)
                  + "; list it under [modalities]")
    choices = {"ood_level": OOD_LEVELS, "label_type": LABEL_TYPES}
    for key, allowed in choices.items():
        if key in options and options[key] not in allowed:
            check.add(f"{where}.{key}", _unknown(key, options[key], allowed))
    if "preset" in options and options["preset"] not in presets:
        check.add(f"{where}.preset", _unknown("preset", options["preset"], presets))
    for key, ok in _RANGES.items():
        if key in options and not ok(options[key]):
            check.add(f"{where}.{key}", f"{options[key]!r} is out of range "
                                        f"({_RANGE_TEXT.get(key, 'strictly between 0 and 1')})")
    if options.get("ood_level") == "none" and not str(options.get("ood_reason", "")).strip():
        check.add(f"{where}.ood_reason", "say why this task has no OOD split (ood_level none); "
                                         "the task page shows it")
    if "classes" in options and len(options["classes"]) < 2:
        check.add(f"{where}.classes", "name at least two classes or labels")


def _unknown(kind: str, name: object, known: Collection[str]) -> str:
    """'unknown preset 'x'; did you mean 'y'? (known: ...)', as the registries word it."""
    names: Registry[str] = Registry(kind)
    for item in known:
        names.register(item, item)
    return names.unknown_message(str(name))
