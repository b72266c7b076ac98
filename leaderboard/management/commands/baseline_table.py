"""Print the baselines' stored results as a Markdown table (for docs/methods.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leaderboard.models import Aggregate, Modality, Submission


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = "Markdown table of the baselines: test_id / test_ood / gap per modality and overall."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--benchmark", default="med-vtab-mini")

    def handle(self, *args: Any, **options: Any) -> None:
        subs = list(
            Submission.objects.filter(
                benchmark__slug=options["benchmark"], is_baseline=True, status="succeeded"
            ).order_by("method_family", "method_name")
        )
        modalities = list(Modality.objects.filter(benchmark__slug=options["benchmark"]))
        aggs = {
            (a.submission_id, a.modality_id): a
            for a in Aggregate.objects.filter(submission__in=subs)
        }
        head = ["baseline", "tunable params"]
        head += [f"{m.name} ID / OOD / gap" for m in modalities] + ["overall ID / OOD / gap"]
        self.stdout.write("| " + " | ".join(head) + " |")
        self.stdout.write("|" + "---|" * len(head))
        for sub in subs:
            cells = [sub.method_name, f"{sub.verified_tunable_params:,}"]
            for key in [*(m.pk for m in modalities), None]:
                a = aggs.get((sub.pk, key))
                cells.append(
                    " / ".join(_fmt(v) for v in (a.test_id, a.test_ood, a.ood_gap)) if a else "n/a"
                )
            self.stdout.write("| " + " | ".join(cells) + " |")
