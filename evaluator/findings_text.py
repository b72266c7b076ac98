"""The findings panels' titles, missing-data notes and sentences, built from the numbers only.

A CI that contains 0 reads "no significant difference"; an estimate without a CI (missing or
undefined replicates) says so; on a synthetic benchmark every sentence says the data are
synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evaluator.findings import (
        Estimate,
        GmoePanel,
        GmoeRow,
        OodPanel,
        OodRow,
        PretrainingPanel,
        PretrainingRow,
        ScalingPanel,
        ScalingRow,
    )

MIN_SIZES = 3  # distinct tunable-parameter counts a slope needs (evaluator.findings uses it)
NOT_SIGNIFICANT = "no significant difference"


def number(value: float) -> str:
    return f"{value:+.3f}"


def ci(e: Estimate) -> str:
    return f"95% CI [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


def verdict(name: str, e: Estimate, extra: str = "") -> str:
    """``name: +0.012 (95% CI [...])``, or "no significant difference" when the CI contains 0."""
    more = f"; {extra}" if extra else ""
    if e["value"] is None:
        return f"{name}: undefined{more}"
    if e["significant"] is None:
        return (
            f"{name}: {number(e['value'])} (no CI: bootstrap replicates missing or undefined{more})"
        )
    if not e["significant"]:
        return f"{name}: {NOT_SIGNIFICANT} ({number(e['value'])}, {ci(e)}{more})"
    return f"{name}: {number(e['value'])} ({ci(e)}{more})"


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


@dataclass(frozen=True)
class Text:
    split: str
    synthetic: bool

    def sentence(self, body: str) -> str:
        return f"Synthetic data: {body}" if self.synthetic else body[0].upper() + body[1:]

    def scaling(self, rows: list[ScalingRow]) -> ScalingPanel:
        fitted = [r for r in rows if r["slope"] is not None]
        missing = [
            f"{r['family']}: {_plural(r['sizes'], 'tunable-parameter size')}, a slope needs "
            f"{MIN_SIZES}"
            for r in rows
            if r["slope"] is None
        ]
        if not rows:
            missing = [f"no complete entry with a tunable-parameter count and a {self.split} score"]
        if fitted:
            parts = [verdict(r["family"], r["slope"]) for r in fitted if r["slope"] is not None]
            body = (
                f"per tenfold increase in tunable parameters, the overall {self.split} score "
                f"changes by {'; '.join(parts)}."
            )
        else:
            body = (
                f"no method family has entries at {MIN_SIZES} or more distinct tunable-parameter "
                f"sizes on {self.split} ({'; '.join(missing)}), so no scaling slope is estimated."
            )
        return {
            "id": "scaling",
            "title": f"Scaling with tunable parameters ({self.split})",
            "available": bool(fitted),
            "missing": missing,
            "sentence": self.sentence(body),
            "rows": rows,
        }

    def pretraining(self, rows: list[PretrainingRow]) -> PretrainingPanel:
        paired = [r for r in rows if r["difference"] is not None]
        missing = [
            f"{r['name']}: no method and config with both a medical and a general entry"
            for r in rows
            if r["difference"] is None
        ]
        if paired:
            parts = [
                verdict(r["name"], r["difference"], _plural(len(r["pairs"]), "pair"))
                for r in paired
                if r["difference"] is not None
            ]
            body = (
                "medical minus general pre-training (same method, config and protocol, mean over "
                f"pairs) on {self.split}: {'; '.join(parts)}."
            )
        else:
            body = (
                f"no method and config has both a medical and a general entry with a {self.split} "
                "score, so there is no pair to compare (the comparison needs two paired entries)."
            )
        return {
            "id": "pretraining",
            "title": f"Medical vs general pre-training ({self.split})",
            "available": bool(paired),
            "missing": missing,
            "sentence": self.sentence(body),
            "rows": rows,
        }

    def ood(self, rows: list[OodRow]) -> OodPanel:
        with_gap = [r for r in rows if r["gap"] is not None]
        missing = [
            f"{r['name']}: no entry with both test_id and test_ood scores"
            for r in rows
            if r["gap"] is None
        ]
        missing += [
            f"{r['name']}: {_plural(r['sizes'], 'tunable-parameter size')}, the gap's slope needs "
            f"{MIN_SIZES}"
            for r in with_gap
            if r["slope"] is None
        ]
        if with_gap:
            gaps = [
                verdict(r["name"], r["gap"], _plural(r["entries"], "entry", "entries"))
                for r in with_gap
                if r["gap"] is not None
            ]
            slopes = [_trend(r["name"], r["slope"]) for r in with_gap if r["slope"] is not None]
            body = f"the test_id − test_ood gap, mean over entries: {'; '.join(gaps)}."
            if slopes:
                body = body[:-1] + (
                    f"; per tenfold increase in tunable parameters the gap {'; '.join(slopes)}."
                )
        else:
            body = (
                "no entry has both test_id and test_ood scores, so no out-of-distribution gap is "
                "estimated."
            )
        return {
            "id": "ood",
            "title": "Patient-ID out-of-distribution gap",
            "available": bool(with_gap),
            "missing": missing,
            "sentence": self.sentence(body),
            "rows": rows,
        }

    def gmoe(self, rows: list[GmoeRow]) -> GmoePanel:
        compared = [r for r in rows if r["difference"] is not None]
        missing = [_gmoe_missing(r) for r in rows if r["difference"] is None]
        if compared:
            first = compared[0]
            parts = [_gmoe_part(r) for r in compared]
            how = (
                f"both chosen on {first['chosen_on']} and reported on {first['reported_on']}"
                if first["chosen_on"] != first["reported_on"]
                else f"chosen and reported on {first['reported_on']} (no other split has "
                "scores, so the difference favours the chosen entries)"
            )
            body = f"GMoE-Adapter minus the best single-backbone entry, {how}: {'; '.join(parts)}."
        else:
            body = f"no comparison is possible on {self.split}: {'; '.join(missing)}."
        return {
            "id": "gmoe",
            "title": f"GMoE-Adapter vs the best single-backbone entry ({self.split})",
            "available": bool(compared),
            "missing": missing,
            "sentence": self.sentence(body),
            "rows": rows,
        }


def _trend(name: str, e: Estimate) -> str:
    if e["value"] is None or e["significant"] is None:
        return verdict(name, e)
    if not e["significant"]:
        return f"{name}: {NOT_SIGNIFICANT} (slope {number(e['value'])}, {ci(e)})"
    way = "shrinks" if e["value"] < 0 else "grows"
    return f"{name}: {way} (slope {number(e['value'])}, {ci(e)})"


def _gmoe_part(r: GmoeRow) -> str:
    assert r["difference"] is not None and r["gmoe"] is not None and r["best"] is not None
    extra = f"{r['gmoe']['label']} vs {r['best']['label']}"
    if r["tied_on_selection"]:
        extra += (
            f", which tied with {r['tied_on_selection']} other(s) on {r['chosen_on']} (ties go "
            "to fewer tunable parameters, then the earlier submission)"
        )
    return verdict(r["name"], r["difference"], extra)


def _gmoe_missing(r: GmoeRow) -> str:
    what = []
    if r["gmoe"] is None:
        what.append("no GMoE-Adapter entry (method gmoe_adapter, pre-training both)")
    if r["best"] is None:
        what.append("no single-backbone entry (pre-training general or medical)")
    if not what:
        what.append("no comparable score")
    return f"{r['name']}: {' and '.join(what)} with a {r['reported_on']} score"
