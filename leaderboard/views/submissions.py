"""Submission pages: the upload form, a submission's status and results, the user's list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from leaderboard.accounts import verified_required
from leaderboard.forms.submission import SubmissionForm
from leaderboard.models import Result, Submission
from leaderboard.serializers import submission_json
from leaderboard.services.ladder import withheld
from leaderboard.services.permissions import can_cancel, can_rerun, can_view, is_insider
from leaderboard.services.phases import PhaseClosed
from leaderboard.services.submissions import (
    QuotaExceeded,
    StorageUnavailable,
    SubmissionRequest,
    cancel,
    create_submission,
    rerun,
)
from leaderboard.services.uploads import UploadRefused


def _visible(request: HttpRequest, pk: int) -> Submission:
    sub = get_object_or_404(Submission.objects.select_related("benchmark", "owner"), pk=pk)
    if not can_view(sub, request.user):
        raise Http404("no such submission")  # private submissions do not exist for others
    return sub


@login_required
@verified_required
def submit(request: HttpRequest) -> HttpResponse:
    # Bound on every POST, so that a body the form cannot read (JSON, say) gets field errors.
    posted = request.method == "POST"
    form = SubmissionForm(request.POST if posted else None, request.FILES if posted else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sub = create_submission(
                SubmissionRequest(
                    owner=request.user,
                    benchmark=data["benchmark"],
                    track=data["track"],
                    upload=data["file"],
                    protocol=data["protocol"],
                    method_name=data["method_name"],
                    method_family=data["method_family"],
                    pretraining=data["pretraining"],
                    reported_tunable_params=data["tunable_params"],
                    seed=data["seed"],
                    description=data["description"],
                    paper_url=data["paper_url"],
                    code_url=data["code_url"],
                    is_public=data["is_public"],
                    team=data.get("team") or None,
                )
            )
        except QuotaExceeded as exc:
            form.add_error(None, exc.message)
            return render(request, "leaderboard/submit.html", {"form": form}, status=429)
        except PhaseClosed as exc:  # refused before the upload was stored; says when to return
            form.add_error(None, exc.message)
            return render(request, "leaderboard/submit.html", {"form": form}, status=409)
        except StorageUnavailable as exc:  # nothing was kept: the same form may be sent again
            form.add_error(None, str(exc))
            return render(request, "leaderboard/submit.html", {"form": form}, status=503)
        except UploadRefused as exc:
            target = exc.field if exc.field in form.fields else None
            form.add_error(target, exc.message)
        else:
            messages.success(request, f"Submission #{sub.pk} received; it is being evaluated.")
            return redirect("submission", pk=sub.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "leaderboard/submit.html", {"form": form}, status=status)


def _results_table(sub: Submission) -> list[dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    results = (
        Result.objects.filter(submission=sub)
        .select_related("task")
        .order_by("task__slug", "-is_primary", "metric")
    )
    for r in results:
        row = rows.setdefault(r.task.slug, {"task": r.task, "metrics": {}})
        metrics: dict[str, dict[str, object]] = row["metrics"]  # type: ignore[assignment]
        metric = metrics.setdefault(r.metric, {"primary": r.is_primary})
        metric[r.split] = r
    return list(rows.values())


def _context(request: HttpRequest, sub: Submission) -> dict[str, object]:
    insider = is_insider(sub, request.user)
    # under the Ladder the page shows only what the boards show (leaderboard.services.ladder)
    scores_kept_back = withheld(sub)
    shown = sub.status == "succeeded" and not scores_kept_back
    return {
        "sub": sub,
        "data": submission_json(sub),
        "insider": insider,
        "show_staff_log": getattr(request.user, "is_staff", False),
        "can_cancel": can_cancel(sub, request.user),
        "can_rerun": request.user.is_authenticated and can_rerun(sub, request.user),
        "scores_kept_back": scores_kept_back,
        "rows": _results_table(sub) if shown else [],
        "aggregates": sub.aggregates.select_related("modality").order_by("scope", "modality__order")
        if shown
        else [],
    }


def submission_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _visible(request, pk)
    return render(request, "leaderboard/submission.html", _context(request, sub))


def submission_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Polled by the page while the submission is in flight (no full-page reloads)."""
    sub = _visible(request, pk)
    context = _context(request, sub)
    payload = dict(context["data"])  # type: ignore[call-overload]
    payload.pop("results", None)
    payload["log"] = sub.user_log if context["insider"] else ""
    if sub.is_final:
        payload["body_html"] = render_to_string(
            "leaderboard/_submission_body.html", context, request=request
        )
    return JsonResponse(payload)


def _act(
    request: HttpRequest,
    pk: int,
    action: Callable[[Submission, Any], bool],
    done: str,
    refused: str,
) -> HttpResponse:
    """An owner/staff action on a submission; others are told it does not exist."""
    sub = _visible(request, pk)
    if not is_insider(sub, request.user):
        raise Http404("no such submission")
    if action(sub, request.user):
        messages.success(request, f"Submission #{sub.pk} {done}.")
    else:
        messages.error(request, refused)
    return redirect("submission", pk=sub.pk)


@require_POST
@login_required
def submission_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        cancel,
        "was cancelled",
        "Only a pending or queued submission can be cancelled.",
    )


@require_POST
@login_required
def submission_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        rerun,
        "was queued again",
        "Only the owner of a failed submission (or staff) can re-run it.",
    )


@login_required
def my_submissions(request: HttpRequest) -> HttpResponse:
    subs = Submission.objects.filter(owner=request.user).select_related("benchmark")
    page = Paginator(subs, 50).get_page(request.GET.get("page"))
    return render(request, "leaderboard/my_submissions.html", {"page": page})
