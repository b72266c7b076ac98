"""Submission API views: create (multipart upload), list own, status, cancel, re-run, log."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.exceptions import ApiError
from leaderboard.api.permissions import MaySubmit, TokenScopePermits
from leaderboard.api.phases import phase_closed_error
from leaderboard.api.serializers import (
    SubmissionCreateSerializer,
    SubmissionJsonSerializer,
    SubmissionListItemSerializer,
    SubmissionLogSerializer,
)
from leaderboard.api.throttling import AnonThrottle, UploadThrottle, UserThrottle
from leaderboard.models import Benchmark, Pretraining, Protocol, Submission
from leaderboard.serializers import submission_json
from leaderboard.services.permissions import can_rerun, can_view, is_insider
from leaderboard.services.phases import PhaseClosed
from leaderboard.services.submissions import (
    QuotaExceeded,
    StorageUnavailable,
    SubmissionRequest,
    cancel,
    create_submission,
    rerun,
)
from leaderboard.services.teams import TeamRefused
from leaderboard.services.uploads import UploadRefused

ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH, description="submission id")
MAX_PK = 2**63 - 1
STORAGE_RETRY_AFTER_S = 30


def _not_found(pk: object) -> ApiError:
    return ApiError(f"no submission {pk}", code="not_found", status_code=404)


def visible_submission(request: Request, pk: str) -> Submission:
    """The submission if this user may see it; private ones do not exist for others (404)."""
    try:
        number = int(pk)
    except ValueError:
        raise _not_found(pk) from None
    if not 0 < number <= MAX_PK:
        raise _not_found(pk)
    sub = Submission.objects.select_related("benchmark", "owner").filter(pk=number).first()
    if sub is None or not can_view(sub, request.user):
        raise _not_found(pk)
    return sub


def _insider(request: Request, pk: str) -> Submission:
    sub = visible_submission(request, pk)
    if not request.user.is_authenticated:
        raise NotAuthenticated()
    if not is_insider(sub, request.user):
        raise ApiError(
            "only the owner of a submission (or staff) may do this",
            code="permission_denied",
            status_code=403,
        )
    return sub


def _list_item(sub: Submission) -> dict[str, Any]:
    return {
        **submission_json(sub),
        "benchmark": sub.benchmark.slug,
        "created": sub.created.isoformat(),
        "is_public": sub.is_public,
    }


class SubmissionCollection(ListAPIView):
    """``GET``: your own submissions, newest first. ``POST``: submit a file (multipart)."""

    permission_classes = [TokenScopePermits, IsAuthenticated, MaySubmit]
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = SubmissionListItemSerializer
    throttle_classes = [AnonThrottle, UserThrottle, UploadThrottle]

    def get_queryset(self) -> QuerySet[Submission]:
        return Submission.objects.filter(owner=self.request.user).select_related("benchmark")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([_list_item(s) for s in page or []])

    @extend_schema(
        request={
            "multipart/form-data": OpenApiRequest(
                SubmissionCreateSerializer,
                encoding={"backbones": {"contentType": "application/json"}},
            )
        },
        responses={201: SubmissionJsonSerializer, 200: SubmissionJsonSerializer},
        description="Upload a predictions or checkpoint archive. 201 when created; 200 with the "
        "first submission when the idempotency key was seen before.",
    )
    def post(self, request: Request) -> Response:
        form = SubmissionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        benchmark = data["benchmark"]
        key = (data.get("idempotency_key") or "").strip() or None
        if key is not None:
            earlier = _replayed(request, key, data.get("sha256"), benchmark)
            if earlier is not None:
                return Response(submission_json(earlier), status=status.HTTP_200_OK)
        sub = _create(request, data, benchmark, key)
        return Response(submission_json(sub), status=status.HTTP_201_CREATED)


def _replayed(
    request: Request, key: str, sha256: str | None, benchmark: Benchmark
) -> Submission | None:
    earlier = Submission.objects.filter(owner=request.user, idempotency_key=key).first()
    if earlier is None:
        return None
    if (sha256 and earlier.sha256 != sha256) or earlier.benchmark_id != benchmark.pk:
        raise ApiError(
            f"idempotency key '{key}' was already used for submission {earlier.pk} with another "
            "file or benchmark; use a new key for a new submission",
            code="idempotency_conflict",
            status_code=409,
            field="idempotency_key",
        )
    return earlier


def _create(
    request: Request, data: dict[str, Any], benchmark: Benchmark, key: str | None
) -> Submission:
    try:
        return create_submission(
            SubmissionRequest(
                owner=request.user,
                benchmark=benchmark,
                track=data["track"],
                upload=data["file"],
                protocol=data.get("protocol", Protocol.FULL),
                method_name=data.get("method_name", ""),
                method_family=data.get("method_family", ""),
                backbones=data.get("backbones") or {},
                pretraining=data.get("pretraining", Pretraining.UNKNOWN),
                reported_tunable_params=data.get("reported_tunable_params"),
                seed=data.get("seed"),
                description=data.get("description", ""),
                paper_url=data.get("paper_url", ""),
                code_url=data.get("code_url", ""),
                is_public=data.get("is_public", True),
                idempotency_key=key,
                sha256=data.get("sha256"),
                team=data.get("team"),
            )
        )
    except PhaseClosed as exc:
        raise phase_closed_error(exc) from None
    except QuotaExceeded as exc:
        raise ApiError(
            exc.message,
            code="quota_exceeded",
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            retry_after_s=exc.retry_after_s,
        ) from None
    except TeamRefused as exc:  # a team the user is not in, or not theirs on this benchmark
        raise ApiError(exc.message, code=exc.code, status_code=409, field=exc.field) from None
    except UploadRefused as exc:
        code = "sha256_mismatch" if exc.field == "sha256" else exc.code
        raise ApiError(exc.message, code=code, field=exc.field) from None
    except StorageUnavailable as exc:
        raise ApiError(
            str(exc), code="storage_unavailable", status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            retry_after_s=STORAGE_RETRY_AFTER_S,
        ) from None


class SubmissionDetail(APIView):
    """The submission JSON (docs/api.md), as ``manage.py submit --wait`` prints it; anyone may
    read public, succeeded submissions."""

    @extend_schema(parameters=[ID_PARAM], responses=SubmissionJsonSerializer)
    def get(self, request: Request, pk: str) -> Response:
        return Response(submission_json(visible_submission(request, pk)))


class SubmissionCancel(APIView):
    permission_classes = [TokenScopePermits, IsAuthenticated]

    @extend_schema(parameters=[ID_PARAM], request=None, responses=SubmissionJsonSerializer)
    def post(self, request: Request, pk: str) -> Response:
        sub = _insider(request, pk)
        if not cancel(sub, request.user):
            raise ApiError(
                f"submission {sub.pk} is {sub.status}; only a pending or queued submission can "
                "be cancelled",
                code="not_cancellable",
                status_code=409,
            )
        sub.refresh_from_db()
        return Response(submission_json(sub))


class SubmissionRerun(APIView):
    permission_classes = [TokenScopePermits, IsAuthenticated, MaySubmit]

    @extend_schema(parameters=[ID_PARAM], request=None, responses=SubmissionJsonSerializer)
    def post(self, request: Request, pk: str) -> Response:
        sub = _insider(request, pk)
        if not can_rerun(sub, request.user) or not rerun(sub, request.user):
            raise ApiError(
                f"submission {sub.pk} is {sub.status}; its owner may re-run it once it has "
                "failed (staff: once it is final)",
                code="not_rerunnable",
                status_code=409,
            )
        sub.refresh_from_db()
        return Response(submission_json(sub))


class SubmissionLog(APIView):
    """The user log (owner and staff); staff also get the staff log."""

    permission_classes = [TokenScopePermits, IsAuthenticated]

    @extend_schema(parameters=[ID_PARAM], responses=SubmissionLogSerializer)
    def get(self, request: Request, pk: str) -> Response:
        sub = _insider(request, pk)
        staff = bool(getattr(request.user, "is_staff", False))
        return Response(
            {
                "id": sub.pk,
                "status": sub.status,
                "log": sub.user_log,
                "staff_log": sub.staff_log if staff else None,
            }
        )
