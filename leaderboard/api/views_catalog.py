"""Read-only API views: benchmarks, tasks, a task's public download and sample submission."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.views import APIView

from datasets.bundle import BundleError
from leaderboard.api import rendered
from leaderboard.api.downloads import public_npz, sample_csv
from leaderboard.api.exceptions import ApiError
from leaderboard.api.params import is_slug, query_slug, slug_path, slug_query
from leaderboard.api.serializers import BenchmarkSerializer, ErrorSerializer, TaskSerializer
from leaderboard.models import AcceptedVia, ApiToken, Benchmark, Modality, Phase, Task
from leaderboard.services.licences import api_refusal, record_acceptance
from leaderboard.services.pagecache import cached, catalogue_version, hashed


class _Benchmarks:
    serializer_class = BenchmarkSerializer

    def get_queryset(self) -> QuerySet[Benchmark]:
        return Benchmark.objects.prefetch_related(
            Prefetch("modalities", queryset=Modality.objects.prefetch_related("tasks")),
            Prefetch("phases", queryset=Phase.objects.order_by("opens")),
        )


class BenchmarkList(_Benchmarks, generics.ListAPIView):
    """Every benchmark with its modalities and their tasks."""

    pagination_class = None


class _BySlug:
    """Looked up by slug; a value that cannot be a slug is not found without a query."""

    lookup_field = "slug"
    thing = "object"
    kwargs: dict[str, str]

    def get_object(self) -> Any:
        if not is_slug(self.kwargs["slug"]):
            raise ApiError(
                f"no such {self.thing} '{self.kwargs['slug']}'", code="not_found", status_code=404
            )
        return super().get_object()  # type: ignore[misc]


@extend_schema(parameters=[slug_path("slug", "benchmark slug")])
class BenchmarkDetail(_Benchmarks, _BySlug, generics.RetrieveAPIView):
    thing = "benchmark"


@extend_schema(
    parameters=[
        slug_query("benchmark", "benchmark slug"),
        slug_query("modality", "modality slug"),
    ]
)
class TaskList(generics.ListAPIView):
    """Tasks, optionally of one benchmark and one modality."""

    serializer_class = TaskSerializer
    pagination_class = None

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        # Links are absolute, so the key has the scheme and host asked for; the catalogue
        # fingerprint covers every task field.
        benchmark, modality = self._slugs()
        parts = (request.build_absolute_uri("/"), benchmark, modality, rendered.variant(request))
        key = hashed(f"api-tasks:{catalogue_version(request._request)}:{parts}")
        render = rendered.renderer_for(request)
        content = cached(key, lambda: render(super(TaskList, self).list(request).data))
        return rendered.response(request, content)

    def _slugs(self) -> tuple[str | None, str | None]:
        return query_slug(self.request, "benchmark"), query_slug(self.request, "modality")

    def get_queryset(self) -> QuerySet[Task]:
        tasks = Task.objects.select_related("benchmark", "modality")
        benchmark, modality = self._slugs()
        if benchmark:
            tasks = tasks.filter(benchmark__slug=benchmark)
        if modality:
            tasks = tasks.filter(modality__slug=modality)
        return tasks


@extend_schema(parameters=[slug_path("slug", "task slug")])
class TaskDetail(_BySlug, generics.RetrieveAPIView):
    serializer_class = TaskSerializer
    queryset = Task.objects.select_related("benchmark", "modality")
    thing = "task"


def _task(slug: str) -> Task:
    task = (
        Task.objects.select_related("benchmark").filter(slug=slug).first()
        if is_slug(slug)
        else None
    )
    if task is None:
        raise ApiError(f"no task '{slug}'", code="not_found", status_code=404)
    return task


ACCEPT_LICENSE = OpenApiParameter(
    "accept_license",
    str,
    description="the task's licence (its `license` field) exactly: accepting it is required, "
    "as on the web page, and recorded with the account or token that accepted it",
)


class TaskDownload(APIView):
    """The task's public ``.npz`` (MedMNIST-style keys; never hidden labels or test patients),
    once its data licence is accepted. The ``X-Content-SHA256`` header carries the sha256."""

    @extend_schema(
        parameters=[slug_path("slug", "task slug"), ACCEPT_LICENSE],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            404: ErrorSerializer,
        },
        operation_id="tasks_download",
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        task = _task(slug)
        refusal = api_refusal(task, request.query_params.get("accept_license"))
        if refusal is not None:
            raise ApiError(
                refusal, code="license_not_accepted", status_code=403, field="accept_license"
            )
        try:
            path, digest = public_npz(task)
        except (BundleError, FileNotFoundError) as exc:
            raise ApiError(
                f"the files of task '{slug}' are not available on this server ({exc})",
                code="not_available",
                status_code=404,
            ) from None
        response = FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"{task.slug}-v{task.version}.npz",
            content_type="application/octet-stream",
        )
        response["X-Content-SHA256"] = digest
        token = request.auth if isinstance(request.auth, ApiToken) else None
        record_acceptance(task, request.user, via=AcceptedVia.API, token=token)
        return response


class TaskSample(APIView):
    """A valid predictions CSV for the task (uniform probabilities, every test image)."""

    @extend_schema(
        parameters=[slug_path("slug", "task slug")],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR), 404: ErrorSerializer},
        operation_id="tasks_sample",
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        task = _task(slug)
        if not task.test_images_public:
            raise ApiError(
                f"task '{slug}' keeps its test images hidden: it takes checkpoint submissions "
                "only and has no sample predictions file",
                code="no_public_test_images",
                status_code=404,
            )
        try:
            text = sample_csv(task)
        except (BundleError, FileNotFoundError) as exc:
            raise ApiError(
                f"the files of task '{slug}' are not available on this server ({exc})",
                code="not_available",
                status_code=404,
            ) from None
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{task.slug}.csv"'
        return response
