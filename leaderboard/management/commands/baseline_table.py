"""Print the baselines' stored results as Markdown tables, one per protocol (for docs/methods.md),
or as JSON with ``--json``. Only what the server scored is shown: the hidden test splits."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from leaderboard.models import Aggregate, Benchmark, Modality, Status, Submission

# Aggregate scopes other than the per-modality ones, in column order; the checkpoint-only and
# all-task columns appear only where the benchmark has tasks open to checkpoints alone.
SCOPES = (("checkpoint_only", "checkpoint-only tasks"), ("overall", "overall"),
          ("all_tasks", "all tasks"))
OPTIONAL_SCOPES = {"checkpoint_only", "all_tasks"}


class Cell(TypedDict):
    test_id: float | None
    test_ood: float | None
    gap: float | None


class Row(TypedDict):
    name: str
    submission: int
    method_family: str
    pretraining: str
    reference: bool
    tunable_params: int | None
    modalities: dict[str, Cell | None]
    scopes: dict[str, Cell | None]  # overall, and checkpoint_only / all_tasks where shown


class ProtocolTable(TypedDict):
    protocol: str
    rows: list[Row]
    not_scored: list[str]  # sweep entries without a scored baseline yet


class TableJSON(TypedDict):
    benchmark: str
    modalities: dict[str, str]  # slug -> name, in board order
    scopes: list[str]
    protocols: list[ProtocolTable]


def _cell(a: Aggregate | None) -> Cell | None:
    return None if a is None else Cell(test_id=a.test_id, test_ood=a.test_ood, gap=a.ood_gap)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _text(cell: Cell | None) -> str:
    if cell is None:
        return "n/a"
    return " / ".join(_fmt(v) for v in (cell["test_id"], cell["test_ood"], cell["gap"]))


def _latest(benchmark: Benchmark) -> list[Submission]:
    """The latest scored baseline or reference per protocol and name (a retrained archive makes
    a second submission of the same name)."""
    subs = Submission.objects.filter(
        Q(is_baseline=True) | Q(is_reference=True), benchmark=benchmark, status=Status.SUCCEEDED
    ).order_by("finished_at", "pk")
    return list({(s.protocol, s.method_name): s for s in subs}.values())


def _order(subs: list[Submission], protocol: str, planned: list[str]) -> list[Submission]:
    """Sweep order first, then other baselines by name, then the reference rows."""
    rank = {name: i for i, name in enumerate(planned)}
    mine = [s for s in subs if s.protocol == protocol]
    return sorted(mine, key=lambda s: (s.is_reference, rank.get(s.method_name, len(rank)),
                                       s.method_name))


def build_table(benchmark: Benchmark) -> TableJSON:
    from reference_models.sweeps import PROTOCOLS, sweep

    modalities = list(Modality.objects.filter(benchmark=benchmark))
    subs = _latest(benchmark)
    aggs = {(a.submission_id, a.scope, a.modality_id): a
            for a in Aggregate.objects.filter(submission__in=subs)}
    shown = {scope for _, scope, _ in aggs} & OPTIONAL_SCOPES
    scopes = [s for s, _ in SCOPES if s not in OPTIONAL_SCOPES or s in shown]
    tables = []
    for protocol in PROTOCOLS:
        planned = [e.name for e in sweep([protocol])]
        rows = [Row(
            name=s.method_name, submission=s.pk, method_family=s.method_family,
            pretraining=s.pretraining, reference=s.is_reference,
            tunable_params=s.verified_tunable_params,
            modalities={m.slug: _cell(aggs.get((s.pk, "modality", m.pk))) for m in modalities},
            scopes={scope: _cell(aggs.get((s.pk, scope, None))) for scope in scopes},
        ) for s in _order(subs, protocol, planned)]
        scored = {r["name"] for r in rows}
        tables.append(ProtocolTable(protocol=protocol, rows=rows,
                                    not_scored=[n for n in planned if n not in scored]))
    return TableJSON(benchmark=benchmark.slug, modalities={m.slug: m.name for m in modalities},
                     scopes=scopes, protocols=tables)


def markdown(table: TableJSON) -> list[str]:
    labels = dict(SCOPES)
    head = ["baseline", "tunable params"]
    head += [f"{name} ID / OOD / gap" for name in table["modalities"].values()]
    head += [f"{labels[s]} ID / OOD / gap" for s in table["scopes"]]
    lines: list[str] = []
    for part in table["protocols"]:
        lines += ["", f"### `{part['protocol']}` protocol", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        for row in part["rows"]:
            params = row["tunable_params"]
            name = f"{row['name']} (reference)" if row["reference"] else row["name"]
            cells = [name, "n/a" if params is None else f"{params:,}"]
            cells += [_text(row["modalities"][slug]) for slug in table["modalities"]]
            cells += [_text(row["scopes"][s]) for s in table["scopes"]]
            lines.append("| " + " | ".join(cells) + " |")
        if part["not_scored"]:
            lines += ["", "Not scored yet: " + ", ".join(part["not_scored"]) + "."]
    return lines[1:]


class Command(BaseCommand):
    help = (
        "Markdown tables of the baselines and reference rows, one per protocol: tunable "
        "parameters and test_id / test_ood / gap per modality and overall (the hidden test "
        "splits, as the server scored them). --json for machine reading."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--benchmark", default="med-vtab-mini")
        parser.add_argument("--json", action="store_true", help="print the table as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        benchmark = Benchmark.objects.filter(slug=options["benchmark"]).first()
        if benchmark is None:
            raise CommandError(f"no benchmark {options['benchmark']!r}")
        table = build_table(benchmark)
        if options["json"]:
            self.stdout.write(json.dumps(table, indent=2))
            return
        for line in markdown(table):
            self.stdout.write(line)
