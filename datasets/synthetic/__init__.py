"""The synthetic Med-VTAB-mini benchmark: deterministic, offline, clearly labelled synthetic.

Six tasks over three modalities (colour, X-ray, CT/OCT), each with patients whose images share
patient-specific appearance and, mostly, a label, so that ``test_ood`` (unseen patients) is harder
than ``test_id`` (unseen images of seen patients)::

    from datasets.synthetic import build_benchmark
    build_benchmark("var/data", seed=0)          # about 2,900 images per task at 64x64
"""

from __future__ import annotations

from datasets.synthetic import colour, ct_oct, xray  # noqa: F401  (importing registers the tasks)
from datasets.synthetic.build import build_benchmark, build_task, task_meta
from datasets.synthetic.cohort import n_patients_for
from datasets.synthetic.spec import BENCHMARK_SLUG, TASKS, TaskSpec, derive_seed, register_task

__all__ = [
    "BENCHMARK_SLUG",
    "TASKS",
    "TaskSpec",
    "build_benchmark",
    "build_task",
    "derive_seed",
    "n_patients_for",
    "register_task",
    "task_meta",
]
