"""Importers that turn outside datasets into task bundles (MedMNIST ``.npz``, CSV manifests)."""

from __future__ import annotations

from datasets.importers.common import DatasetImportError
from datasets.importers.manifest import import_manifest
from datasets.importers.medmnist import import_medmnist

__all__ = ["DatasetImportError", "import_manifest", "import_medmnist"]
