"""The score JSON's shape as types (``evaluator/schemas/score.schema.json`` is the contract;
docs/formats.md, "Score JSON", explains each field). Keys marked ``NotRequired`` are absent from
scores stored by evaluators older than 2.0.0."""

from __future__ import annotations

from typing import NotRequired, TypedDict


class MetricJSON(TypedDict):
    value: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None
    dropped: NotRequired[int]


SplitJSON = dict[str, MetricJSON]  # metric name -> metric


class TaskJSON(TypedDict):
    test_id: SplitJSON
    test_ood: SplitJSON
    ood_gap: float | None


class AggregateCI(TypedDict):
    test_id: list[float] | None
    test_ood: list[float] | None


class AggregateJSON(TypedDict):
    test_id: float | None
    test_ood: float | None
    ood_gap: float | None
    complete: bool
    ci: AggregateCI


class MetaJSON(TypedDict):
    benchmark: str
    benchmark_version: str
    evaluator_version: str
    seed: int
    replicates: int
    task_versions: NotRequired[dict[str, str]]


class AggregateSections(TypedDict):
    """The aggregates of one score: ``overall`` and ``modalities`` average the tasks open to both
    tracks, ``checkpoint_only`` the tasks that accept checkpoints only (null when the benchmark
    has none), ``all_tasks`` every task of the benchmark."""

    modalities: dict[str, AggregateJSON]
    overall: AggregateJSON
    checkpoint_only: AggregateJSON | None
    all_tasks: AggregateJSON


class ScoreJSON(TypedDict):
    meta: MetaJSON
    tasks: dict[str, TaskJSON]
    modalities: dict[str, AggregateJSON]
    overall: AggregateJSON
    checkpoint_only: NotRequired[AggregateJSON | None]
    all_tasks: NotRequired[AggregateJSON]
