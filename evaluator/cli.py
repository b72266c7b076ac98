"""``python -m evaluator {score,validate,schema,metrics}`` — the stable command-line interface.

Exit codes: 0 success, 2 invalid input or usage (messages on stderr, no traceback), 1 an internal
error (one line on stderr; the traceback only with ``MEDVTAB_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from evaluator.errors import SubmissionInvalid

if TYPE_CHECKING:
    from evaluator.scorejson import MetricJSON, ScoreJSON

SCHEMA_PATH = Path(__file__).with_name("schemas") / "score.schema.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("score", "score a predictions submission"),
                            ("validate", "check a predictions submission without scoring it")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--data-root", required=True, type=Path)
        p.add_argument("--benchmark", required=True)
        p.add_argument("--predictions", required=True, type=Path)
        if name == "score":
            p.add_argument("--bootstrap", type=int, default=1000, help="replicates (default 1000)")
            p.add_argument("--seed", type=int, default=0)
            p.add_argument("--json", action="store_true", help="print the score JSON")
    sub.add_parser("schema", help="print the JSON Schema of the score JSON")
    sub.add_parser("metrics", help="print the metric table (markdown)")
    return parser


def _fmt(entry: MetricJSON | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a" + (f" ({entry['reason']})" if entry and entry.get("reason") else "")
    ci = "" if entry["ci_low"] is None else f" [{entry['ci_low']:.4f}, {entry['ci_high']:.4f}]"
    return f"{entry['value']:.4f}{ci}"


def _print_human(score: ScoreJSON) -> None:
    meta = score["meta"]
    print(f"{meta['benchmark']} (version {meta['benchmark_version']}), evaluator "
          f"{meta['evaluator_version']}, {meta['replicates']} bootstrap replicates, seed {meta['seed']}")
    for slug, task in score["tasks"].items():
        print(f"\n{slug}  (OOD gap: {task['ood_gap']})")
        for split in ("test_id", "test_ood"):
            for metric, entry in task[split].items():
                print(f"  {split:8s} {metric:18s} {_fmt(entry)}")
    o = score["overall"]
    print(f"\noverall: test_id {o['test_id']}, test_ood {o['test_ood']}, "
          f"complete: {o['complete']}")


def _metric_table() -> str:
    from evaluator.metrics import METRICS, METRICS_BY_LABEL_TYPE

    rows = ["| label type | metric | higher is better | equals |", "|---|---|---|---|"]
    for label_type, names in METRICS_BY_LABEL_TYPE.items():
        for i, name in enumerate(names):
            metric = METRICS.get(name)
            shown = f"`{name}` (primary)" if i == 0 else f"`{name}`"
            call = metric.definitions[label_type][0]
            rows.append(f"| {label_type} | {shown} | {metric.higher_is_better} | `{call}` |")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    if args.command == "schema":
        print(SCHEMA_PATH.read_text(encoding="utf-8"), end="")
        return 0
    if args.command == "metrics":
        print(_metric_table())
        return 0
    from evaluator.scoring import score_predictions_file, validate_predictions_file

    if not args.predictions.is_file():
        raise SubmissionInvalid(f"{args.predictions}: no such file")
    if args.command == "validate":
        probs = validate_predictions_file(args.data_root, args.benchmark, args.predictions)
        print(f"OK: {len(probs)} task file(s) valid: {', '.join(sorted(probs))}")
        return 0
    result = score_predictions_file(
        args.data_root, args.benchmark, args.predictions, bootstrap=args.bootstrap, seed=args.seed
    )
    if args.json:
        print(json.dumps(result.json, indent=2, allow_nan=False))
    else:
        _print_human(result.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except SubmissionInvalid as exc:
        for message in exc.messages:
            print(f"error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:  # the CLI never shows a traceback to a participant
        if os.environ.get("MEDVTAB_DEBUG") == "1":
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
