"""The Ladder on a benchmark's standing boards (``Benchmark.ladder``, docs/operations.md).

Run by the board recompute (``leaderboard.services.boards``) before ranking. Per team (or, for a
submission without one, its owner) and protocol, the team's entries are judged in the order they
finished by ``evaluator.ladder.climb`` on the board's test_id mean (the replicate-by-replicate mean
of the board's tasks, as the ties use). Only the entries that moved the team's shown score stay on
the board; the others are left out of every row, rank, tie, chart, export and API answer, so their
scores are never shown, and the board notes how many made no significant improvement. The
overall and checkpoint-only boards run their own ladder; a modality's board shows the entries the
overall board shows, so no board reveals a score the overall ladder withheld.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from evaluator.ladder import Attempt, Step, climb
from leaderboard.models import BoardEntry, ReplicateVector, Status, Submission
from leaderboard.models.boards import BoardScope, Split
from leaderboard.services.boardties import Vectors, board_vector
from leaderboard.services.results import decode_vector

JUDGED_SPLIT: Split = "test_id"


def _team(e: BoardEntry) -> tuple[str, int]:
    return ("team", e.team_id) if e.team_id is not None else ("owner", e.owner_id)


def _vectors(submission_ids: list[int], slugs: list[str]) -> dict[int, Vectors]:
    """The judged split's replicates of one team's submissions (one query per team)."""
    rows = ReplicateVector.objects.filter(
        submission_id__in=submission_ids, task__slug__in=slugs, split=JUDGED_SPLIT
    ).values_list("submission_id", "task__slug", "split", "values")
    out: dict[int, Vectors] = defaultdict(dict)
    for sub_id, slug, split, raw in rows:
        out[sub_id][(slug, split)] = decode_vector(raw)
    return out


def _order(e: BoardEntry) -> tuple[float, int]:
    return (e.finished_at.timestamp() if e.finished_at else 0.0, e.submission_id)


def _held_after_last_move(steps: list[Step]) -> int:
    """Attempts since the shown one that did not move it (what the board notes)."""
    held = 0
    for step in reversed(steps):
        if step.moved:
            break
        held += 1
    return held


@dataclass
class BoardLadder:
    """The ladder over one recompute's boards; ``notes`` go to ``BoardState.facets``."""

    margin: float
    references: set[int]
    overall_shown: set[int] = field(default_factory=set)
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def apply(
        self, rows: list[BoardEntry], scope: str, board: str, slugs: list[str]
    ) -> list[BoardEntry]:
        """The rows the board keeps. The server's reference and baselines always stay: they are
        run by staff, one per method, so nobody probes with them."""
        exempt = self.references | {e.submission_id for e in rows if e.is_baseline}
        if scope == BoardScope.MODALITY:
            keep = self.overall_shown | exempt
            return [e for e in rows if e.submission_id in keep]
        groups: dict[tuple[tuple[str, int], str], list[BoardEntry]] = defaultdict(list)
        for e in rows:
            if e.submission_id not in exempt:
                groups[(_team(e), e.protocol)].append(e)
        shown: set[int] = set()
        notes: list[dict[str, Any]] = []
        for group in groups.values():
            group.sort(key=_order)
            steps = self._climb(group, slugs)
            shown |= {int(s.id) for s in steps if s.moved}
            held = _held_after_last_move(steps)
            if held and steps[-1].shown is not None:
                notes.append(self._note(group, int(steps[-1].shown), held))
        if scope == BoardScope.OVERALL:
            self.overall_shown = shown
        self.notes[board] = sorted(
            notes, key=lambda n: (n["protocol"], n["team"], n["submission_id"])
        )
        return [e for e in rows if e.submission_id in shown or e.submission_id in exempt]

    def _climb(self, group: list[BoardEntry], slugs: list[str]) -> list[Step]:
        vectors = _vectors([e.submission_id for e in group], slugs)
        attempts = [
            Attempt(
                str(e.submission_id),
                e.score(JUDGED_SPLIT),
                board_vector(vectors.get(e.submission_id, {}), slugs, JUDGED_SPLIT),
                e.complete,
            )
            for e in group
        ]
        return climb(attempts, self.margin)

    @staticmethod
    def _note(group: list[BoardEntry], shown_id: int, held: int) -> dict[str, Any]:
        shown = next(e for e in group if e.submission_id == shown_id)
        return {
            "protocol": shown.protocol,
            "team": shown.team_name or shown.owner_name,
            "method": shown.method_name,
            "submission_id": shown_id,
            "held": held,
        }

    def facets(self) -> dict[str, Any]:
        return {"margin": self.margin, "split": JUDGED_SPLIT, "notes": self.notes}


def withheld(sub: Submission) -> bool:
    """Under the Ladder, whether a succeeded submission's scores are kept back from its JSON: it
    is on no board, because the ladder has not judged it yet (the next recompute does) or it made
    no significant improvement. Staff read the raw scores in the admin."""
    if sub.status != Status.SUCCEEDED or sub.is_reference or not sub.benchmark.ladder:
        return False
    return not BoardEntry.objects.filter(submission_id=sub.pk).exists()
