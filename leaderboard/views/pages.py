"""Read-only pages about benchmarks and tasks: home, task pages and their public downloads."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods

from leaderboard.models import (
    IN_FLIGHT,
    AcceptedVia,
    Benchmark,
    BoardEntry,
    Modality,
    Status,
    Submission,
    Task,
    WorkerHeartbeat,
)
from leaderboard.models.boards import BoardScope, task_scope
from leaderboard.services.baselines import protocol_progress, read_progress
from leaderboard.services.boardquery import BoardFilters, cell, default_protocol
from leaderboard.services.charts import class_balance_chart
from leaderboard.services.exports import (
    class_counts,
    data_available,
    public_download_response,
    sample_submission_response,
)
from leaderboard.services.licences import record_acceptance
from leaderboard.services.pagecache import cached, catalogue_version, hashed
from leaderboard.services.phases import open_phases

LEADERS = 3
RECENT = 10
TASK_BOARD_ROWS = 50


def _leaders() -> dict[int, list[BoardEntry]]:
    """The top of each benchmark's overall board, on ``full`` once it has entries, else ``1k``."""
    rows = BoardEntry.objects.filter(
        scope=BoardScope.OVERALL,
        complete=True,
        rank_test_id__lte=LEADERS,
        best_test_id=True,
    ).order_by("benchmark_id", "protocol", "rank_test_id", "submission_id")
    by_protocol: dict[int, dict[str, list[BoardEntry]]] = {}
    for e in rows[:400]:
        by_protocol.setdefault(e.benchmark_id, {}).setdefault(e.protocol, []).append(e)
    return {b: groups.get("full") or groups.get("1k") or [] for b, groups in by_protocol.items()}


def _live() -> dict[str, Any]:
    """The status panel's counts and the recent list's fingerprint, from one grouped query (plain
    SQL: eight filtered ORM aggregates cost more CPU to build than the rest of the page)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, track, is_baseline, is_public, COUNT(*), MAX(finished_at) "
            f"FROM {Submission._meta.db_table} GROUP BY status, track, is_baseline, is_public"
        )
        rows = cursor.fetchall()
    counts = ("results", "predictions", "checkpoint", "baselines", "baselines_ok")
    live: dict[str, Any] = dict.fromkeys((*counts, "baselines_failed", "baselines_in_flight"), 0)
    last = []
    for status, track, baseline, public, n, finished in rows:
        if status == Status.SUCCEEDED and public:
            live["results"] += n
            last.append(str(finished))
        if status in IN_FLIGHT and track in ("predictions", "checkpoint"):
            live[track] += n
        if baseline:
            live["baselines"] += n
            live["baselines_ok"] += n if status == Status.SUCCEEDED else 0
            live["baselines_failed"] += n if status == Status.FAILED else 0
            live["baselines_in_flight"] += n if status in IN_FLIGHT else 0
    live["last_result"] = max(last, default="")
    return live


def _workers(live: dict[str, Any]) -> dict[str, Any]:
    alive = list(WorkerHeartbeat.objects.fresh().values_list("queues", flat=True))
    return {
        "cpu": sum("cpu" in q for q in alive),
        "gpu": sum("gpu" in q for q in alive),
        "waiting": {"predictions": live["predictions"], "checkpoint": live["checkpoint"]},
    }


def _seeding(live: dict[str, Any]) -> dict[str, int]:
    total, done = live["baselines"], live["baselines_ok"]
    return {
        "total": total,
        "succeeded": done,
        "failed": live["baselines_failed"],
        "in_flight": live["baselines_in_flight"],
        "percent": round(100 * done / total) if total else 0,
    }


def _home_benchmarks() -> str:
    """The benchmarks with their leaders and tasks: the same for every visitor, the page's main
    cost, and changed only by a recompute or a catalogue edit."""
    benchmarks = Benchmark.objects.prefetch_related(
        Prefetch(
            "modalities",
            queryset=Modality.objects.prefetch_related(
                Prefetch("tasks", queryset=Task.objects.order_by("slug"))
            ),
        )
    )
    context = {"benchmarks": benchmarks, "leaders": _leaders()}
    return render_to_string("leaderboard/home_benchmarks.html", context)


def _home_recent() -> str:
    """The latest public results: changed by every result, so it is cached apart (and is cheap)."""
    recent = (
        Submission.objects.filter(status=Status.SUCCEEDED, is_public=True)
        .select_related("benchmark", "owner")
        .order_by("-finished_at")[:RECENT]
    )
    return render_to_string("leaderboard/home_recent.html", {"recent": recent})


def home(request: HttpRequest) -> HttpResponse:
    live = _live()
    version = catalogue_version(request)
    parts = {
        "benchmarks": cached(hashed(f"home-benchmarks:{version}"), _home_benchmarks),
        "recent": cached(
            hashed(f"home-recent:{version}:{live['results']}:{live['last_result']}"), _home_recent
        ),
    }
    stage = read_progress()
    context = {
        "parts": parts,
        "workers": _workers(live),
        "seeding": _seeding(live),
        "seeding_stage": stage,
        # live, never cached: the plan from the seeding command's file, the counts from the database
        "seeding_protocols": protocol_progress(stage),
        "open_phases": open_phases(),  # outside the cached parts: states change with the clock
    }
    return render(request, "leaderboard/home.html", context)


def _task(slug: str) -> Task:
    return get_object_or_404(Task.objects.select_related("benchmark", "modality"), slug=slug)


def _balance(task: Task) -> dict[str, Any] | None:
    key = f"class-balance:{task.slug}:{task.version}"
    counts = cache.get(key)
    if counts is None and data_available(task):
        counts = class_counts(task)
        cache.set(key, counts, 24 * 3600)
    return class_balance_chart(counts, list(task.classes)) if counts else None


def _task_board(task: Task, f: BoardFilters) -> list[dict[str, Any]]:
    """The task's rows from the overall board (best row per participant and method)."""
    rows = (
        BoardEntry.objects.filter(
            benchmark_id=task.benchmark_id,
            scope=task_scope(task),
            protocol=f.protocol,
            cells__has_key=task.slug,
            **{f"best_{f.split}": True},
        )
        .exclude(**{f"cells__{task.slug}__rank__{f.split}": None})
        .order_by(f"cells__{task.slug}__rank__{f.split}", "submission_id")[:TASK_BOARD_ROWS]
    )
    out = []
    for e in rows:
        data = e.cells[task.slug]
        value = (data.get(f.split) or {}).get(task.primary_metric) or [None, None, None]
        out.append(
            {
                "entry": e,
                "rank": (data.get("rank") or {}).get(f.split),
                "tied": (data.get("tied") or {}).get(f.split),
                "score": cell(*value),
            }
        )
    return out


def _task_parts(task: Task, query: QueryDict, downloadable: bool) -> dict[str, Any]:
    f = BoardFilters.parse(query, [], [], default_protocol(task.benchmark_id))
    balance = _balance(task)
    context = {
        "task": task,
        "f": f,
        "split_links": [(s, f.query(split=s)) for s in ("test_id", "test_ood")],
        "balance": balance,
        "board_rows": _task_board(task, f),
        "downloadable": downloadable,
    }
    return {
        "body": render_to_string("leaderboard/task_body.html", context),
        "charts": bool(balance),
    }


def task_detail(request: HttpRequest, slug: str) -> HttpResponse:
    task = _task(slug)
    downloadable = data_available(task)
    # Keyed on the parameters as given (the default protocol follows the board generation, which
    # the catalogue version holds), so an unknown parameter never makes a new entry.
    given = BoardFilters.parse(request.GET, [], [], "")
    key = (
        f"task:{task.pk}:{catalogue_version(request)}:{given.split}:{given.protocol}:"
        f"{int(downloadable)}"
    )
    parts = cached(hashed(key), lambda: _task_parts(task, request.GET, downloadable))
    return render(request, "leaderboard/task.html", {"task": task, **parts})


@require_http_methods(["GET", "POST"])
def task_download(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the licence to accept; POST with the box ticked: the public ``.npz``."""
    task = _task(slug)
    if not data_available(task):
        raise Http404("the data of this task is not on this server")
    error = ""
    if request.method == "POST":
        if request.POST.get("accept") == "yes":
            record_acceptance(task, request.user, via=AcceptedVia.WEB)
            return public_download_response(task)
        error = "Tick the box to accept the data licence before downloading."
    status = 400 if error else 200
    return render(
        request, "leaderboard/task_download.html", {"task": task, "error": error}, status=status
    )


def task_sample(request: HttpRequest, slug: str) -> HttpResponse:
    task = _task(slug)
    if not task.test_images_public or not data_available(task):
        raise Http404("this task takes checkpoint submissions only")
    return sample_submission_response(task)
