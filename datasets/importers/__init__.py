"""Importers that turn outside datasets into task bundles (MedMNIST ``.npz``, CSV manifests)."""

from __future__ import annotations

from datasets.importers.common import DatasetImportError, ImportSummary
from datasets.importers.manifest import import_manifest
from datasets.importers.medmnist import import_medmnist
from datasets.importers.presets import get_preset, preset_for_file, presets

__all__ = [
    "DatasetImportError",
    "ImportSummary",
    "get_preset",
    "import_manifest",
    "import_medmnist",
    "preset_for_file",
    "presets",
]
