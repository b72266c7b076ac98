"""The findings page's statistics (docs/methods.md, "Findings page"): pure functions over entries
that carry per-group, per-split point scores and bootstrap replicate vectors.

A group is ``overall`` or a modality; its score is the mean over its tasks of the primary metric,
and its replicate vector the replicate-by-replicate mean of the tasks' vectors (as
``evaluator.aggregate`` builds the stored aggregates). Replicates of one task and split are drawn
once for every submission (``evaluator.bootstrap.resample_counts``), so vectors of two entries on
the same group and split are *paired*: any statistic computed replicate by replicate (a
difference, a mean over pairs, a least-squares slope) is a bootstrap replicate of that statistic,
and its 95% CI is the percentile interval of those replicates. A NaN replicate (a metric
undefined on that resample) in any input drops that replicate, as in the aggregates.

Sentences are built from the numbers by ``evaluator.findings_text``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict

import numpy as np

from evaluator import findings_text
from evaluator.bootstrap import percentile_ci

Split = Literal["test_id", "test_ood"]
OVERALL = "overall"
GMOE_METHOD = "gmoe_adapter"
SINGLE_BACKBONE = ("general", "medical")
MIN_SIZES = findings_text.MIN_SIZES  # distinct tunable-parameter counts a slope needs
MIN_PAIRS = 1  # medical/general pairs (two paired entries) a difference needs
TIE_TOLERANCE = 1e-12  # selection scores this close are tied (means of floats)


@dataclass(frozen=True)
class GroupScore:
    value: float | None
    replicates: np.ndarray | None = None  # aligned with every other entry's on the group/split


@dataclass(frozen=True, eq=False)  # compared by identity: the scores hold arrays
class FindingEntry:
    id: int
    label: str  # the method name as shown on the board
    method: str  # the registered method (e.g. "lora"), or the label when unknown
    family: str
    config: str  # what pairs a medical entry with a general one: the label without pre-training
    pretraining: str
    protocol: str
    tunable_params: int | None
    scores: Mapping[tuple[str, str], GroupScore] = field(default_factory=dict)

    def value(self, group: str, split: str) -> float | None:
        s = self.scores.get((group, split))
        if s is None or s.value is None or not math.isfinite(s.value):
            return None
        return s.value

    def vector(self, group: str, split: str) -> np.ndarray | None:
        s = self.scores.get((group, split))
        return None if s is None else s.replicates


@dataclass(frozen=True)
class Group:
    slug: str
    name: str


class Estimate(TypedDict):
    value: float | None
    ci_low: float | None
    ci_high: float | None
    replicates_used: int  # defined replicates behind the CI (0: no CI)
    significant: bool | None  # the CI excludes 0; None without a CI


class EntryRef(TypedDict):
    id: int
    label: str
    pretraining: str
    tunable_params: int | None
    value: float | None


class ScalingRow(TypedDict):
    family: str
    sizes: int
    points: list[EntryRef]
    slope: Estimate | None  # per decade of tunable parameters; None below MIN_SIZES sizes


class PretrainingPair(TypedDict):
    config: str
    medical: list[EntryRef]
    general: list[EntryRef]
    difference: float


class PretrainingRow(TypedDict):
    group: str
    name: str
    pairs: list[PretrainingPair]
    difference: Estimate | None  # medical − general, mean over pairs; None without a pair


class OodRow(TypedDict):
    group: str
    name: str
    entries: int
    sizes: int
    gap: Estimate | None  # test_id − test_ood, mean over entries
    slope: Estimate | None  # of the gap per decade of tunable parameters


class GmoeRow(TypedDict):
    group: str
    name: str
    chosen_on: str
    reported_on: str
    gmoe: EntryRef | None
    best: EntryRef | None
    tied_on_selection: int  # other single-backbone entries tied with the chosen one
    difference: Estimate | None  # GMoE − best single-backbone, on reported_on


class Panel(TypedDict):
    id: str
    title: str
    available: bool
    missing: list[str]  # what the panel lacks, in words
    sentence: str


class ScalingPanel(Panel):
    rows: list[ScalingRow]


class PretrainingPanel(Panel):
    rows: list[PretrainingRow]


class OodPanel(Panel):
    rows: list[OodRow]


class GmoePanel(Panel):
    rows: list[GmoeRow]


class Findings(TypedDict):
    synthetic: bool
    split: str
    entries: int
    scaling: ScalingPanel
    pretraining: PretrainingPanel
    ood: OodPanel
    gmoe: GmoePanel


# ---- replicate arithmetic -------------------------------------------------------------------


def stack(vectors: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """(entries x replicates); None when a vector is missing or the lengths differ."""
    if not vectors or any(v is None for v in vectors):
        return None
    arrays = [np.asarray(v, dtype=np.float64) for v in vectors if v is not None]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1 or arrays[0].size == 0:
        return None
    return np.vstack(arrays)


def mean_vector(vectors: Sequence[np.ndarray | None]) -> np.ndarray | None:
    stacked = stack(vectors)
    return None if stacked is None else stacked.mean(axis=0)  # NaN anywhere drops the replicate


def slope(log_x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``y`` (entries, or entries x replicates) on ``log_x``."""
    centred = log_x - log_x.mean()
    sxx = float(np.sum(centred**2))
    y = np.asarray(y, dtype=np.float64)
    ys = y - y.mean(axis=0)
    return np.tensordot(centred, ys, axes=(0, 0)) / sxx


def estimate(value: float | None, replicates: np.ndarray | None) -> Estimate:
    """A point value with the percentile CI of its replicates; a CI containing 0 is not
    significant."""
    point = None if value is None or not math.isfinite(value) else float(value)
    ci = percentile_ci(replicates) if replicates is not None and point is not None else None
    used = int(np.isfinite(replicates).sum()) if ci is not None and replicates is not None else 0
    return {
        "value": point,
        "ci_low": ci[0] if ci else None,
        "ci_high": ci[1] if ci else None,
        "replicates_used": used,
        "significant": None if ci is None else not ci[0] <= 0.0 <= ci[1],
    }


def entry_ref(e: FindingEntry, value: float | None) -> EntryRef:
    return {
        "id": e.id,
        "label": e.label,
        "pretraining": e.pretraining,
        "tunable_params": e.tunable_params,
        "value": value,
    }


def _log_params(entries: Sequence[FindingEntry]) -> np.ndarray:
    return np.log10(np.array([float(e.tunable_params or 0) for e in entries]))


def _sized(entries: Sequence[FindingEntry]) -> list[FindingEntry]:
    return [e for e in entries if e.tunable_params is not None and e.tunable_params > 0]


def _fit(
    entries: Sequence[FindingEntry], ys: list[float], vectors: list[np.ndarray | None]
) -> Estimate:
    log_x = _log_params(entries)
    point = float(slope(log_x, np.array(ys)))
    stacked = stack(vectors)
    return estimate(point, None if stacked is None else slope(log_x, stacked))


# ---- panels ---------------------------------------------------------------------------------


def scaling_rows(entries: Sequence[FindingEntry], split: Split) -> list[ScalingRow]:
    """Per method family: the slope of the overall score against log10(tunable parameters)."""
    by_family: dict[str, list[FindingEntry]] = defaultdict(list)
    for e in _sized(entries):
        if e.value(OVERALL, split) is not None:
            by_family[e.family or "unspecified"].append(e)
    rows: list[ScalingRow] = []
    for family, items in sorted(by_family.items()):
        items.sort(key=lambda e: (e.tunable_params or 0, e.id))
        sizes = len({e.tunable_params for e in items})
        ys = [e.value(OVERALL, split) or 0.0 for e in items]
        fit = None
        if sizes >= MIN_SIZES:
            fit = _fit(items, ys, [e.vector(OVERALL, split) for e in items])
        points = [entry_ref(e, y) for e, y in zip(items, ys, strict=True)]
        rows.append({"family": family, "sizes": sizes, "points": points, "slope": fit})
    return rows


def _side(items: list[FindingEntry], group: str, split: Split) -> tuple[float, np.ndarray | None]:
    """Several entries of one kind for one config (duplicates): their mean."""
    values = [e.value(group, split) or 0.0 for e in items]
    return float(np.mean(values)), mean_vector([e.vector(group, split) for e in items])


def pretraining_row(entries: Sequence[FindingEntry], group: Group, split: Split) -> PretrainingRow:
    """Medical − general for the same family, config and protocol, mean over the pairs."""
    keyed: dict[tuple[str, str, str], dict[str, list[FindingEntry]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for e in entries:
        if e.pretraining in SINGLE_BACKBONE and e.value(group.slug, split) is not None:
            keyed[(e.family, e.config, e.protocol)][e.pretraining].append(e)
    pairs: list[PretrainingPair] = []
    diffs: list[np.ndarray | None] = []
    for (_, config, _), kinds in sorted(keyed.items()):
        if not kinds["medical"] or not kinds["general"]:
            continue
        med, med_vec = _side(kinds["medical"], group.slug, split)
        gen, gen_vec = _side(kinds["general"], group.slug, split)
        refs = {k: [entry_ref(e, e.value(group.slug, split)) for e in kinds[k]] for k in kinds}
        pairs.append(
            {
                "config": config,
                "medical": refs["medical"],
                "general": refs["general"],
                "difference": med - gen,
            }
        )
        diffs.append(None if med_vec is None or gen_vec is None else med_vec - gen_vec)
    diff = None
    if len(pairs) >= MIN_PAIRS:
        diff = estimate(float(np.mean([p["difference"] for p in pairs])), mean_vector(diffs))
    return {"group": group.slug, "name": group.name, "pairs": pairs, "difference": diff}


def _gap_vector(e: FindingEntry, group: str) -> np.ndarray | None:
    # test_id and test_ood hold different patients, so their replicates are independent, not
    # paired. The index-wise difference of two independent bootstrap vectors is still a valid
    # bootstrap of the difference of two independent estimates (each replicate pairs one
    # independent resample of each split), so the same percentile interval applies.
    a, b = e.vector(group, "test_id"), e.vector(group, "test_ood")
    if a is None or b is None or a.shape != b.shape:
        return None
    return np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)


def ood_row(entries: Sequence[FindingEntry], group: Group) -> OodRow:
    """The mean test_id − test_ood gap, and its slope against log10(tunable parameters)."""
    items = [
        e
        for e in entries
        if e.value(group.slug, "test_id") is not None
        and e.value(group.slug, "test_ood") is not None
    ]
    gaps = [
        (e.value(group.slug, "test_id") or 0.0) - (e.value(group.slug, "test_ood") or 0.0)
        for e in items
    ]
    vectors = [_gap_vector(e, group.slug) for e in items]
    gap = estimate(float(np.mean(gaps)), mean_vector(vectors)) if items else None
    sized = [
        (e, g, v)
        for e, g, v in zip(items, gaps, vectors, strict=True)
        if e.tunable_params is not None and e.tunable_params > 0
    ]
    sizes = len({e.tunable_params for e, _, _ in sized})
    fit = None
    if sizes >= MIN_SIZES:
        fit = _fit([s[0] for s in sized], [s[1] for s in sized], [s[2] for s in sized])
    return {
        "group": group.slug,
        "name": group.name,
        "entries": len(items),
        "sizes": sizes,
        "gap": gap,
        "slope": fit,
    }


def _pick(
    candidates: Sequence[FindingEntry], group: str, split: str
) -> tuple[FindingEntry | None, int]:
    """The highest score on ``split``; ties (within TIE_TOLERANCE) go to fewer tunable
    parameters, then the lower id. Returns the pick and how many others tied with it."""
    scored = [e for e in candidates if e.value(group, split) is not None]
    if not scored:
        return None, 0
    best_value = max(e.value(group, split) or 0.0 for e in scored)
    tied = [e for e in scored if best_value - (e.value(group, split) or 0.0) <= TIE_TOLERANCE]
    tied.sort(key=lambda e: (e.tunable_params if e.tunable_params is not None else math.inf, e.id))
    return tied[0], len(tied) - 1


def other_split(split: Split) -> Split:
    return "test_ood" if split == "test_id" else "test_id"


def gmoe_row(entries: Sequence[FindingEntry], group: Group, split: Split) -> GmoeRow:
    """GMoE-Adapter against the best single-backbone entry, both chosen on the other split and
    compared on ``split`` (choosing and reporting on one split would favour the chosen entry);
    when the other split has no scores, chosen on ``split`` itself and the row says so."""
    g = group.slug
    reportable = [e for e in entries if e.value(g, split) is not None]
    gmoes = [e for e in reportable if e.method == GMOE_METHOD and e.pretraining == "both"]
    singles = [e for e in reportable if e.pretraining in SINGLE_BACKBONE]
    chosen_on: str = other_split(split)
    if not any(e.value(g, chosen_on) is not None for e in gmoes + singles):
        chosen_on = split
    gmoe, _ = _pick(gmoes, g, chosen_on)
    best, tied = _pick(singles, g, chosen_on)
    diff = None
    if gmoe is not None and best is not None:
        a, b = gmoe.vector(g, split), best.vector(g, split)
        vec = None if stack([a, b]) is None else np.asarray(a) - np.asarray(b)
        diff = estimate((gmoe.value(g, split) or 0.0) - (best.value(g, split) or 0.0), vec)
    return {
        "group": g,
        "name": group.name,
        "chosen_on": chosen_on,
        "reported_on": split,
        "gmoe": None if gmoe is None else entry_ref(gmoe, gmoe.value(g, split)),
        "best": None if best is None else entry_ref(best, best.value(g, split)),
        "tied_on_selection": tied,
        "difference": diff,
    }


def findings(
    entries: Sequence[FindingEntry], groups: Sequence[Group], split: Split, *, synthetic: bool
) -> Findings:
    """Every panel for the entries of one board view (one protocol, the board's filters)."""
    all_groups = [Group(OVERALL, "overall"), *groups]
    text = findings_text.Text(split, synthetic)
    return {
        "synthetic": synthetic,
        "split": split,
        "entries": len(entries),
        "scaling": text.scaling(scaling_rows(entries, split)),
        "pretraining": text.pretraining([pretraining_row(entries, g, split) for g in all_groups]),
        "ood": text.ood([ood_row(entries, g) for g in all_groups]),
        "gmoe": text.gmoe([gmoe_row(entries, g, split) for g in all_groups]),
    }
