"""The pixel logistic-regression reference row of a benchmark's boards, one per protocol.

:func:`create_pixel_reference` is the entry point (``manage.py seed_reference`` and
``seed_baselines`` call it): it creates the reference submission for the benchmark's current task
versions, or returns the one that exists, and enqueues its computation on the ``gpu`` queue. The
row is an ordinary succeeded submission once computed, flagged ``is_reference``: boards show it with
its CIs but never rank it (``leaderboard.services.boards``).
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from evaluator.scoring import benchmark_version
from leaderboard.models import Benchmark, Pretraining, Protocol, Status, Submission, Task, Track
from leaderboard.services.baselines import baseline_owner
from leaderboard.services.submissions import enqueue

log = logging.getLogger(__name__)
METHOD_FAMILY = "reference"
DESCRIPTION = (
    "Server-computed reference, not a participant's entry and never ranked: logistic regression "
    "on 16x16 average-pooled pixels (per channel, standardised with the train split's statistics), "
    "trained on the protocol's public train split with C chosen on its val split by each task's "
    "primary metric (docs/methods.md, 'Pixel reference')."
)
RETRY_STATUSES = (Status.FAILED, Status.CANCELLED)


def method_name(protocol: str) -> str:
    return f"pixel logistic regression (16×16, {protocol})"


def reference_key(benchmark: Benchmark, protocol: str) -> str:
    """One reference per benchmark, protocol and set of task versions (the idempotency key)."""
    tasks = {t.slug: t for t in Task.objects.filter(benchmark=benchmark)}
    return f"pixel-reference:{protocol}:{benchmark_version(tasks)}:{benchmark.slug}"


def _new_reference(benchmark: Benchmark, protocol: str, owner: object, key: str) -> Submission:
    return Submission.objects.create(
        owner=owner,
        benchmark=benchmark,
        track=Track.CHECKPOINT,  # like a checkpoint, it is run on every task, hidden images too
        protocol=protocol,
        method_name=method_name(protocol),
        method_family=METHOD_FAMILY,
        pretraining=Pretraining.UNKNOWN,  # no pre-training at all; the model has no "none"
        description=DESCRIPTION,
        is_public=True,
        is_reference=True,
        idempotency_key=key,
    )


def _retry(sub: Submission) -> None:
    """A failed or cancelled reference is computed again when it is asked for again."""
    sub.status = Status.PENDING
    sub.error = ""
    sub.attempts = 0
    sub.started_at = sub.finished_at = sub.queued_at = None
    sub.append_log(f"{Submission.log_stamp()} reference requested again; re-queued")
    sub.save()


def create_pixel_reference(benchmark: Benchmark, protocol: str) -> Submission:
    """The reference submission of ``benchmark`` under ``protocol`` (``1k`` or ``full``) for its
    current task versions: created and enqueued once; later calls return it (a failed one is
    re-queued). References of older task versions leave the boards."""
    if protocol not in Protocol.values:
        raise ValueError(f"unknown protocol {protocol!r}; protocols are {', '.join(Protocol.values)}")
    owner = baseline_owner()
    key = reference_key(benchmark, protocol)
    with transaction.atomic():
        sub = Submission.objects.select_for_update().filter(owner=owner, idempotency_key=key).first()
        if sub is None:
            try:
                with transaction.atomic():
                    sub = _new_reference(benchmark, protocol, owner, key)
            except IntegrityError:  # created by a parallel call meanwhile
                return Submission.objects.get(owner=owner, idempotency_key=key)
            Submission.objects.filter(
                benchmark=benchmark, protocol=protocol, is_reference=True, is_public=True
            ).exclude(pk=sub.pk).update(is_public=False)
        elif sub.status in RETRY_STATUSES:
            _retry(sub)
        else:
            return sub
        pk = sub.pk
        transaction.on_commit(lambda: enqueue(pk))  # sends it to compute_pixel_reference
    return sub
