"""MedMNIST(+) presets: the published facts of each 2D dataset, so an import needs no typing.

The facts live in ``medmnist_presets.toml`` next to this module (copied from MedMNIST's
``info.py``, Apache-2.0). The ``medmnist`` package itself imports torch, so it cannot be a
dependency of ``datasets/`` or the web tier. Any field given explicitly overrides the preset.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from datasets.importers.common import DatasetImportError
from datasets.registry import Registry, RegistryError

PRESET_FILE = Path(__file__).with_name("medmnist_presets.toml")
# MedMNIST's task names -> the bundle's label types.
LABEL_TYPES = {
    "multi-class": "multiclass",
    "binary-class": "binary",
    "multi-label, binary-class": "multilabel",
    "ordinal-regression": "ordinal",
}
SIZES = (28, 64, 128, 224)
MEDMNIST_CITATION = (
    "Yang J et al. MedMNIST v2 - a large-scale lightweight benchmark for 2D and 3D biomedical "
    "image classification. Scientific Data 10:41, 2023. Doerrich S et al. Rethinking model "
    "prototyping through the MedMNIST+ dataset collection. arXiv:2404.15786, 2024."
)
# The task fields a preset fills; an explicit value for any of them wins.
FIELDS = ("name", "modality", "organ", "label_type", "classes", "source", "license", "citation")


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    task: str
    labels: tuple[str, ...]
    n_channels: int
    n_samples: dict[str, int]
    license: str
    organ: str
    modality: str
    ood_level: str
    ood_reason: str
    source: str
    citation: str

    @property
    def label_type(self) -> str:
        return LABEL_TYPES[self.task]

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names as a bundle allows them: MedMNIST's commas become slashes
        (``"normal, benign"`` -> ``"normal/benign"``), as class names head CSV columns."""
        return tuple(re.sub(r",\s*", "/", label) for label in self.labels)

    def describe(self) -> str:
        """``preset 'pathmnist' (multi-class, 9 classes, 3 channels)``, for error messages."""
        return (f"preset {self.key!r} ({self.task}, {len(self.labels)} "
                f"{'labels' if self.label_type == 'multilabel' else 'classes'}, "
                f"{self.n_channels} channel{'s' if self.n_channels > 1 else ''})")

    def task_fields(self) -> dict[str, Any]:
        return {
            "name": self.name, "modality": self.modality, "organ": self.organ,
            "label_type": self.label_type, "classes": self.classes, "source": self.source,
            "license": self.license, "citation": f"{self.citation} {MEDMNIST_CITATION}",
        }


def _load(path: Path) -> Registry[Preset]:
    registry: Registry[Preset] = Registry("MedMNIST preset")
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    for key, fields in data.items():
        fields = dict(fields)
        fields["labels"] = tuple(fields["labels"])
        registry.register(key, Preset(key=key, **fields))
    return registry


@cache
def presets() -> Registry[Preset]:
    return _load(PRESET_FILE)


def get_preset(key: str) -> Preset:
    try:
        return presets().get(key)
    except RegistryError as exc:
        raise DatasetImportError(str(exc)) from None


def preset_for_file(path: Path | str) -> tuple[str, int | None] | None:
    """``(preset, size)`` for a published file name: ``pathmnist.npz`` (28 px) or
    ``pathmnist_224.npz``; None when the name is not one of them."""
    match = re.fullmatch(r"([a-z]+)(?:_(\d+))?\.npz", Path(path).name.lower())
    if match is None or match.group(1) not in presets():
        return None
    size = int(match.group(2)) if match.group(2) else 28
    return (match.group(1), size) if size in SIZES else None


def resolve_fields(preset: Preset | None, given: dict[str, Any], where: str) -> dict[str, Any]:
    """The task fields: each given value, else the preset's; a missing one is an error."""
    fields = preset.task_fields() if preset is not None else {}
    fields.update({k: v for k, v in given.items() if v is not None})
    fields.setdefault("organ", "")
    fields.setdefault("citation", "")
    missing = [k for k in FIELDS if k not in fields]
    if missing:
        known = ", ".join(presets().names())
        raise DatasetImportError(
            f"{where}: give {', '.join(missing)}, or a preset that fills them (one of: {known})"
        )
    return fields


def preset_table() -> list[str]:
    """One line per preset, for ``import_medmnist --list-presets``."""
    lines = []
    for key, p in presets().items():
        lines.append(f"{key:<15} {p.name:<15} {p.task:<26} {len(p.labels):>2} labels  "
                     f"{p.n_channels} ch  {p.modality:<7} ood {p.ood_level:<5} {p.license}")
    return lines
