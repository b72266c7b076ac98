"""A method family's page: all its public submissions across every benchmark's tasks."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from leaderboard.models import BoardEntry, Task
from leaderboard.models.boards import BoardScope
from leaderboard.services.boardquery import PAGE_SIZE, cell


def method_family(request: HttpRequest, family: str) -> HttpResponse:
    entries = (
        BoardEntry.objects.filter(scope=BoardScope.OVERALL, method_family=family)
        .select_related("benchmark")
        .order_by("benchmark__slug", "protocol", "-test_id", "submission_id")
    )
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    if page.paginator.count == 0:
        raise Http404("no public submission of this method family")
    bench_ids = {e.benchmark_id for e in page}
    tasks = list(
        Task.objects.filter(benchmark_id__in=bench_ids).order_by(
            "benchmark__slug", "modality__order", "slug"
        )
    )
    groups: dict[int, dict[str, object]] = {}
    for e in page:
        group = groups.setdefault(
            e.benchmark_id,
            {
                "benchmark": e.benchmark,
                "tasks": [t for t in tasks if t.benchmark_id == e.benchmark_id],
                "rows": [],
            },
        )
        cells = []
        for t in group["tasks"]:  # type: ignore[attr-defined]
            by_split = e.cells.get(t.slug, {})
            cells.append(
                {
                    split: cell(*((by_split.get(split) or {}).get(t.primary_metric) or [None] * 3))
                    for split in ("test_id", "test_ood")
                }
            )
        group["rows"].append({"entry": e, "cells": cells})  # type: ignore[attr-defined]
    context = {"family": family, "page": page, "groups": list(groups.values())}
    return render(request, "leaderboard/method.html", context)
