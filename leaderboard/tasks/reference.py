"""The pixel logistic-regression reference, computed by a worker for a reference submission.

It goes through the same claim, finish and result storage as any evaluation
(``leaderboard.tasks.evaluation.run_evaluation``), so the reference row moves queued → running →
succeeded/failed and its results are ordinary ``Result``/``Aggregate``/``ReplicateVector`` rows,
scored by the scorer's ``score_probabilities`` exactly as a checkpoint's model outputs are. It runs
on the ``gpu`` queue: scikit-learn is installed on the workers that carry the starter kit's
dependencies (requirements/worker.txt), and those workers read the hidden test images.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from datasets.bundle import BundleError
from evaluator.errors import SubmissionInvalid
from evaluator.scoring import ScoreResult, score_probabilities
from leaderboard.models import Submission
from leaderboard.services.results import save_running_log_line
from leaderboard.tasks.base import medvtab_task
from leaderboard.tasks.evaluation import run_evaluation


def compute_reference(sub: Submission) -> tuple[ScoreResult, dict[str, Any]]:
    """Fit on the public splits of the submission's protocol, predict every test image, score."""
    # scikit-learn lives on the workers only; the web tier imports this module to enqueue
    from reference_models.pixel_reference import benchmark_reference, mean_params

    if not sub.is_reference:
        raise SubmissionInvalid("this submission is not a reference; it has nothing to compute")
    start = time.perf_counter()
    try:
        refs = benchmark_reference(settings.MEDVTAB_DATA_ROOT, sub.benchmark.slug, sub.protocol)
    except BundleError as exc:
        raise SubmissionInvalid(f"the reference cannot be computed: {exc}") from None
    seconds = time.perf_counter() - start
    score = score_probabilities(
        settings.MEDVTAB_DATA_ROOT,
        sub.benchmark.slug,
        {r.slug: r.outputs for r in refs},
        bootstrap=settings.MEDVTAB_BOOTSTRAP_REPLICATES,
        seed=settings.MEDVTAB_BOOTSTRAP_SEED,
    )
    images = sum(len(r.outputs[0]) for r in refs)
    chosen = ", ".join(f"{r.slug} C={r.selection.c:g} (val {r.selection.score:.4f})" for r in refs)
    save_running_log_line(sub, f"{Submission.log_stamp()} C chosen on val: {chosen}")
    extra = {
        "verified_tunable_params": mean_params(refs),
        "device": "cpu (scikit-learn)",
        "images_per_second": images / seconds if seconds > 0 else None,
    }
    return score, extra


@medvtab_task(queue="gpu")
def compute_pixel_reference(*, submission_id: int) -> str:
    return run_evaluation(submission_id, compute_reference)
