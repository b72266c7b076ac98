from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluator import EVALUATOR_VERSION
from leaderboard.models import Status, Submission, Task
from leaderboard.services.submissions import requeue


def is_stale(sub: Submission, versions: dict[str, str]) -> bool:
    if sub.evaluator_version != EVALUATOR_VERSION:
        return True
    return any(versions.get(slug) != v for slug, v in (sub.task_versions or {}).items())


class Command(BaseCommand):
    help = (
        "Re-score stored submissions: by default those scored with another evaluator version or "
        "an older task version; --all for every succeeded one; --id for given submissions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--benchmark")
        parser.add_argument("--id", type=int, action="append", dest="ids")
        parser.add_argument("--all", action="store_true")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        subs = Submission.objects.filter(status=Status.SUCCEEDED)
        if options["benchmark"]:
            subs = subs.filter(benchmark__slug=options["benchmark"])
        if options["ids"]:
            subs = Submission.objects.filter(pk__in=options["ids"])
            missing = set(options["ids"]) - set(subs.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no submission(s) {sorted(missing)}")
        versions = dict(Task.objects.values_list("slug", "version"))
        chosen = [s for s in subs if options["all"] or options["ids"] or is_stale(s, versions)]
        for sub in chosen:
            if not options["dry_run"]:
                requeue(sub.pk, note=f"re-scoring (evaluator {EVALUATOR_VERSION})")
        verb = "would re-score" if options["dry_run"] else "re-scoring"
        self.stdout.write(f"{verb} {len(chosen)} submission(s): {[s.pk for s in chosen]}")
