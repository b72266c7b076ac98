"""Where the starter kit reads a task from: a bundle's public tree or the participant's download.

Both give a :class:`~datasets.export.PublicTask`, and :func:`training_arrays` picks the training
data from either in the same way, so training from the ``.npz`` and from the bundle tree sees the
same images, labels and ``1k`` indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from datasets.bundle import BundleError, list_tasks, read_meta
from datasets.export import PublicTask, public_task, read_public_npz

Arrays = tuple[np.ndarray, np.ndarray]


def bundle_tasks(root: Path | str, benchmark: str, tasks: Sequence[str] | str) -> list[PublicTask]:
    """The requested tasks (``"all"`` for the whole benchmark) from the public tree under ``root``."""
    if tasks == "all":
        metas = list_tasks(root, benchmark)
    else:
        metas = [read_meta(root, benchmark, t) for t in ([tasks] if isinstance(tasks, str) else tasks)]
    return [public_task(root, meta) for meta in metas]


def npz_tasks(paths: Sequence[Path | str]) -> list[PublicTask]:
    """Task downloads, one task each; they must be distinct tasks of one benchmark."""
    tasks = [read_public_npz(p) for p in paths]
    benchmarks = sorted({t.meta.benchmark for t in tasks})
    if len(benchmarks) > 1:
        raise BundleError(f"the .npz files belong to different benchmarks ({', '.join(benchmarks)}); "
                          "a checkpoint covers one benchmark")
    slugs = [t.meta.slug for t in tasks]
    twice = sorted({s for s in slugs if slugs.count(s) > 1})
    if twice:
        raise BundleError(f"task(s) {', '.join(twice)} given by more than one .npz file")
    return tasks


def _subset(idx: np.ndarray, n: int, what: str) -> np.ndarray:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise BundleError(f"{what}: indices must lie in 0..{n - 1}")
    return np.sort(idx)


def training_arrays(task: PublicTask, protocol: str) -> tuple[Arrays, Arrays]:
    """(train images, labels), (val images, labels) of ``protocol``: the whole splits for
    ``full``, the ``train800``/``val200`` subsets (in index order) for ``1k``."""
    train, val = task.split("train"), task.split("val")
    assert train.images is not None and val.images is not None
    assert train.labels is not None and val.labels is not None
    subsets = task.protocol(protocol)
    if subsets is None:
        return (np.asarray(train.images), train.labels), (np.asarray(val.images), val.labels)
    slug = task.meta.slug
    t_idx = _subset(subsets["train800"], len(train), f"{slug}: {protocol} train800")
    v_idx = _subset(subsets["val200"], len(val), f"{slug}: {protocol} val200")
    return ((np.asarray(train.images[t_idx]), train.labels[t_idx]),
            (np.asarray(val.images[v_idx]), val.labels[v_idx]))
