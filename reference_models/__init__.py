"""Reference adaptation methods, backbone registry, checkpoint archives and the starter kit.

Importing this package (or :mod:`reference_models.catalog`) does not import torch: the web tier uses
the catalog to check manifests and safetensors headers at upload time. The torch-backed modules
(``backbones``, ``methods``, ``checkpoint``, ``inference``, ``train``, ``predict``) import it themselves.
"""

from __future__ import annotations
