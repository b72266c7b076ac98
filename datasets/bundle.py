"""Read and write task bundles exactly as laid out in docs/formats.md.

Public and hidden parts live in separate trees under the data root so that the web tier can be given
the public tree alone::

    public/<benchmark>/<task>/task.json
    public/<benchmark>/<task>/<split>/images.npy    (test splits: only with public test images)
    public/<benchmark>/<task>/<split>/image_ids.npy
    public/<benchmark>/<task>/{train,val}/labels.npy
    public/<benchmark>/<task>/{train,val}/patient_ids.npy
    public/<benchmark>/<task>/protocols/1k/{train800,val200}.npy
    hidden/<benchmark>/<task>/{test_id,test_ood}/labels.npy
    hidden/<benchmark>/<task>/{test_id,test_ood}/patient_ids.npy
    hidden/<benchmark>/<task>/{test_id,test_ood}/{images,image_ids}.npy  (hidden test images)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test_id", "test_ood")
LABELLED_PUBLIC_SPLITS = ("train", "val")
TEST_SPLITS = ("test_id", "test_ood")
LABEL_TYPES = ("binary", "multiclass", "multilabel", "ordinal")
OOD_LEVELS = ("patient", "site", "none")
PROTOCOLS = ("full", "1k")
PROTOCOL_1K_SIZES = {"train800": 800, "val200": 200}
SLUG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
# Fixed path segments of the board pages under /b/<benchmark>/ (file names by their stem): a
# modality's board lives at /b/<benchmark>/<modality>/, so a modality may not take one of these
# names. leaderboard/urls_boards.py refuses to load when one of its fixed segments is missing.
RESERVED_MODALITY_SLUGS = frozenset({"charts", "export", "findings", "phases"})
TASK_JSON_FIELDS = (
    "slug",
    "name",
    "benchmark",
    "modality",
    "organ",
    "label_type",
    "classes",
    "image_size",
    "channels",
    "primary_metric",
    "version",
    "source",
    "license",
    "citation",
    "test_images_public",
    "ood_level",
    "synthetic",
    "splits",
)


class BundleError(ValueError):
    """A bundle on disk or a bundle being written is malformed; the message names what and where."""


@dataclass(frozen=True)
class SplitCounts:
    n_images: int
    n_patients: int


@dataclass(frozen=True)
class TaskMeta:
    slug: str
    name: str
    benchmark: str
    modality: str
    organ: str
    label_type: str
    classes: tuple[str, ...]
    image_size: int
    channels: int
    primary_metric: str
    version: str
    source: str
    license: str
    citation: str
    test_images_public: bool
    ood_level: str
    synthetic: bool
    splits: dict[str, SplitCounts] = field(default_factory=dict)
    description: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, where: str = "task.json") -> TaskMeta:
        missing = [k for k in TASK_JSON_FIELDS if k not in data]
        if missing:
            raise BundleError(f"{where}: missing field(s) {', '.join(missing)}")
        try:
            splits = {
                s: SplitCounts(int(v["n_images"]), int(v["n_patients"]))
                for s, v in dict(data["splits"]).items()
            }
            meta = cls(
                slug=str(data["slug"]),
                name=str(data["name"]),
                benchmark=str(data["benchmark"]),
                modality=str(data["modality"]),
                organ=str(data["organ"]),
                label_type=str(data["label_type"]),
                classes=tuple(str(c) for c in data["classes"]),
                image_size=int(data["image_size"]),
                channels=int(data["channels"]),
                primary_metric=str(data["primary_metric"]),
                version=str(data["version"]),
                source=str(data["source"]),
                license=str(data["license"]),
                citation=str(data["citation"]),
                test_images_public=bool(data["test_images_public"]),
                ood_level=str(data["ood_level"]),
                synthetic=bool(data["synthetic"]),
                splits=splits,
                description=str(data.get("description", "")),
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise BundleError(f"{where}: malformed field ({exc})") from None
        meta.check(where=where)
        return meta

    def check(self, *, where: str = "task.json") -> None:
        problems: list[str] = []
        for name in ("slug", "benchmark", "modality"):
            value = getattr(self, name)
            if not value or not set(value) <= SLUG_CHARS or value[0] == "-":
                problems.append(f"{name} {value!r} must be lower-case letters, digits and '-'")
        if self.modality in RESERVED_MODALITY_SLUGS:
            problems.append(
                f"modality {self.modality!r} is reserved for a board page "
                f"(reserved: {', '.join(sorted(RESERVED_MODALITY_SLUGS))}); choose another slug"
            )
        if self.label_type not in LABEL_TYPES:
            problems.append(
                f"label_type {self.label_type!r} is not one of {', '.join(LABEL_TYPES)}"
            )
        if self.ood_level not in OOD_LEVELS:
            problems.append(f"ood_level {self.ood_level!r} is not one of {', '.join(OOD_LEVELS)}")
        if len(self.classes) < 2:
            problems.append("classes must name at least two classes or labels")
        if len(set(self.classes)) != len(self.classes):
            problems.append("class names must be unique")
        if any(c == "image_id" or not c.strip() or "," in c for c in self.classes):
            problems.append(
                "class names must be non-empty, contain no comma, and not be 'image_id'"
            )
        if self.label_type == "binary" and len(self.classes) != 2:
            problems.append("a binary task has exactly two classes")
        if self.channels not in (1, 3):
            problems.append(f"channels must be 1 or 3, not {self.channels}")
        if not 8 <= self.image_size <= 1024:
            problems.append(f"image_size {self.image_size} is out of range 8..1024")
        if problems:
            raise BundleError(f"{where}: " + "; ".join(problems))


@dataclass
class SplitData:
    """One split's arrays. ``labels``/``patient_ids`` are None where the caller may not see them."""

    images: np.ndarray | None
    image_ids: np.ndarray
    labels: np.ndarray | None = None
    patient_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image_ids)


def task_dir(root: Path | str, tree: str, benchmark: str, task: str) -> Path:
    if tree not in ("public", "hidden"):
        raise ValueError(f"tree must be 'public' or 'hidden', not {tree!r}")
    return Path(root) / tree / benchmark / task


def _load(path: Path, *, mmap: bool = False) -> np.ndarray:
    if not path.is_file():
        raise BundleError(f"missing bundle file {path}")
    # Bundles are written by the server itself, but pickle is never allowed anywhere.
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == object:
        raise BundleError(f"{path.name}: object arrays are not allowed")
    np.save(path, array, allow_pickle=False)


def read_meta(root: Path | str, benchmark: str, task: str) -> TaskMeta:
    path = task_dir(root, "public", benchmark, task) / "task.json"
    if not path.is_file():
        raise BundleError(f"no task {task!r} in benchmark {benchmark!r} under {root}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    return TaskMeta.from_json(data, where=str(path))


def list_benchmarks(root: Path | str) -> list[str]:
    base = Path(root) / "public"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir())


def list_tasks(root: Path | str, benchmark: str) -> list[TaskMeta]:
    base = Path(root) / "public" / benchmark
    if not base.is_dir():
        return []
    return [
        read_meta(root, benchmark, p.name)
        for p in sorted(base.iterdir())
        if (p / "task.json").is_file()
    ]


def _tree_for(meta: TaskMeta, split: str, array: str) -> str:
    if split in LABELLED_PUBLIC_SPLITS:
        return "public"
    if array in ("labels", "patient_ids"):
        return "hidden"
    return "public" if meta.test_images_public else "hidden"


def load_split(
    root: Path | str, meta: TaskMeta, split: str, *, hidden: bool = False, images: bool = True
) -> SplitData:
    """Load one split; images are memory-mapped. Test labels/patient ids need ``hidden=True``."""
    if split not in SPLITS:
        raise BundleError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")

    def path(array: str) -> Path:
        return (
            task_dir(root, _tree_for(meta, split, array), meta.benchmark, meta.slug)
            / split
            / f"{array}.npy"
        )

    is_test = split in TEST_SPLITS
    if is_test and not hidden and not meta.test_images_public:
        raise BundleError(f"{meta.slug}: test images are hidden; they need the hidden tree")
    data = SplitData(
        images=_load(path("images"), mmap=True) if images else None,
        image_ids=_load(path("image_ids")),
    )
    if not is_test or hidden:
        data.labels = _load(path("labels"))
        data.patient_ids = _load(path("patient_ids"))
    return data


def load_protocol(root: Path | str, meta: TaskMeta, protocol: str) -> dict[str, np.ndarray] | None:
    """Index arrays of a few-shot protocol (``1k``: train800 into train, val200 into val)."""
    if protocol == "full":
        return None
    if protocol != "1k":
        raise BundleError(f"unknown protocol {protocol!r}; protocols are {', '.join(PROTOCOLS)}")
    base = task_dir(root, "public", meta.benchmark, meta.slug) / "protocols" / "1k"
    return {name: _load(base / f"{name}.npy") for name in PROTOCOL_1K_SIZES}


def split_counts(data: SplitData) -> SplitCounts:
    n_patients = len(np.unique(data.patient_ids)) if data.patient_ids is not None else 0
    return SplitCounts(n_images=len(data), n_patients=int(n_patients))


def write_task(
    root: Path | str,
    meta: TaskMeta,
    splits: dict[str, SplitData],
    protocols: dict[str, dict[str, np.ndarray]] | None = None,
) -> TaskMeta:
    """Write a whole task atomically: both trees are staged and renamed into place together.

    Returns the metadata with split counts filled in from the arrays.
    Nothing is left behind on error.
    """
    with StagedTask(root, meta) as staged:  # a split without images is refused by commit
        for split in SPLITS:
            images = splits[split].images if split in splits else None
            if images is not None:
                _save(staged.path(split, "images"), np.asarray(images))
        return staged.commit(meta, splits, protocols)


class StagedTask:
    """Both trees of one task, staged in temporary folders next to their final places.

    Large importers write each split's ``images.npy`` at ``path(split, "images")`` a chunk at a
    time (no split is ever whole in memory), then ``commit`` writes the small arrays and
    ``task.json`` and swaps both trees in. Leaving the ``with`` block without a commit (an
    exception, Ctrl-C) removes everything staged; extra hidden files go under ``hidden``.
    """

    def __init__(self, root: Path | str, meta: TaskMeta) -> None:
        self.root = Path(root)
        self.meta = meta
        self._staged: list[tuple[Path, Path]] = []
        self._made: list[Path] = []  # folders made for the staging, removed again on failure

    def __enter__(self) -> StagedTask:
        try:
            for tree in ("public", "hidden"):
                final = task_dir(self.root, tree, self.meta.benchmark, self.meta.slug)
                missing = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
                final.parent.mkdir(parents=True, exist_ok=True)
                self._made += missing
                tmp = Path(tempfile.mkdtemp(prefix=f".{self.meta.slug}.", dir=final.parent))
                self._staged.append((tmp, final))
        except BaseException:
            self._discard()
            raise
        self.public, self.hidden = self._staged[0][0], self._staged[1][0]
        return self

    def __exit__(self, *exc: object) -> None:
        self._discard()

    def _discard(self) -> None:
        for tmp, _ in self._staged:
            shutil.rmtree(tmp, ignore_errors=True)
        if self._staged:
            # Deepest first; a folder that something else has filled meanwhile stays.
            for folder in sorted(self._made, key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        self._staged = []

    def path(self, split: str, array: str) -> Path:
        tree = self.public if _tree_for(self.meta, split, array) == "public" else self.hidden
        return tree / split / f"{array}.npy"

    def commit(
        self,
        meta: TaskMeta,
        splits: dict[str, SplitData],
        protocols: dict[str, dict[str, np.ndarray]] | None = None,
    ) -> TaskMeta:
        """Write every array but the images (already staged) and task.json, then swap in.

        Returns the metadata with split counts filled in from the arrays.
        """
        missing = [s for s in SPLITS if s not in splits]
        if missing:
            raise BundleError(f"{meta.slug}: missing split(s) {', '.join(missing)}")
        for split, data in splits.items():
            if data.labels is None or data.patient_ids is None or not self.path(
                    split, "images").is_file():
                raise BundleError(
                    f"{meta.slug}/{split}: images, labels and patient ids are all required")
        counts = {s: split_counts(splits[s]) for s in SPLITS}
        meta = TaskMeta(**{**meta.__dict__, "splits": counts})
        meta.check(where=f"task {meta.slug}")
        for split in SPLITS:
            data = splits[split]
            for array, value in (("image_ids", data.image_ids), ("labels", data.labels),
                                 ("patient_ids", data.patient_ids)):
                assert value is not None
                _save(self.path(split, array), np.asarray(value))
        for protocol, arrays in (protocols or {}).items():
            for name, idx in arrays.items():
                _save(self.public / "protocols" / protocol / f"{name}.npy",
                      np.asarray(idx, np.int64))
        (self.public / "task.json").write_text(
            json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        _swap_in(self._staged)
        self._staged, self._made = [], []
        return meta


def _swap_in(staged: list[tuple[Path, Path]]) -> None:
    """Rename staged trees into place; an old version is moved aside first and restored on error,
    so readers never see one tree of the new version beside one of the old."""
    moved: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for tmp, final in staged:
            if final.exists():
                aside = final.with_name(f".{final.name}.old-{os.getpid()}")
                shutil.rmtree(aside, ignore_errors=True)
                os.replace(final, aside)
                moved.append((aside, final))
            os.replace(tmp, final)
            placed.append(final)
    except OSError:
        for final in placed:
            shutil.rmtree(final, ignore_errors=True)
        for aside, final in moved:
            os.replace(aside, final)
        raise
    for aside, _ in moved:
        shutil.rmtree(aside, ignore_errors=True)
