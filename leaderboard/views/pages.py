"""Read-only pages about benchmarks and tasks."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from leaderboard.models import Benchmark, Modality, Task


def home(request: HttpRequest) -> HttpResponse:
    benchmarks = Benchmark.objects.prefetch_related(
        Prefetch(
            "modalities",
            queryset=Modality.objects.prefetch_related(
                Prefetch("tasks", queryset=Task.objects.order_by("slug"))
            ),
        )
    )
    return render(request, "leaderboard/home.html", {"benchmarks": benchmarks})


def task_detail(request: HttpRequest, slug: str) -> HttpResponse:
    task = get_object_or_404(Task.objects.select_related("benchmark", "modality"), slug=slug)
    return render(request, "leaderboard/task.html", {"task": task})
