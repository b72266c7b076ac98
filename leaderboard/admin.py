"""Operators' admin pages: tasks, submissions (with their logs and results), tokens, workers and
the record of licence acceptances; teams and invitations in ``leaderboard.admin_teams``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from leaderboard.admin_teams import InvitationAdmin, TeamAdmin  # noqa: F401 - registers them
from leaderboard.models import (
    Aggregate,
    ApiToken,
    Benchmark,
    BoardSnapshot,
    LicenceAcceptance,
    Modality,
    Phase,
    Profile,
    Protocol,
    Result,
    SnapshotRow,
    Submission,
    Task,
    Track,
    WorkerHeartbeat,
)
from leaderboard.services.submissions import requeue
from leaderboard.tasks.boards import request_recompute


class ModalityInline(admin.TabularInline):
    model = Modality
    extra = 0


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "synthetic", "ladder", "ladder_margin", "updated")
    inlines = [ModalityInline]

    def save_model(self, request: HttpRequest, obj: Benchmark, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if {"ladder", "ladder_margin"} & set(form.changed_data):
            # the boards apply (or drop) the Ladder when they are next recomputed
            transaction.on_commit(lambda: request_recompute(obj.pk))


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = (
        "slug",
        "benchmark",
        "modality",
        "label_type",
        "ood_level",
        "version",
        "test_images_public",
        "synthetic",
    )
    list_filter = ("benchmark", "modality", "label_type", "ood_level", "synthetic")
    search_fields = ("slug", "name", "source")
    # Tasks mirror bundles on disk: change them with the importers and sync_tasks.
    readonly_fields = ("split_counts", "classes", "version")


class ResultInline(admin.TabularInline):
    model = Result
    extra = 0
    can_delete = False
    fields = ("task", "split", "metric", "value", "ci_low", "ci_high", "reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AggregateInline(admin.TabularInline):
    model = Aggregate
    extra = 0
    can_delete = False
    fields = ("scope", "modality", "test_id", "test_ood", "ood_gap", "complete")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "method_name",
        "owner",
        "benchmark",
        "track",
        "protocol",
        "status",
        "is_baseline",
        "is_reference",
        "is_public",
        "attempts",
        "created",
        "finished_at",
    )
    list_filter = (
        "status", "track", "protocol", "is_baseline", "is_reference", "is_public", "benchmark"
    )
    search_fields = ("method_name", "owner__username", "sha256")
    readonly_fields = (
        "sha256",
        "file_size",
        "original_filename",
        "status",
        "attempts",
        "worker",
        "created",
        "queued_at",
        "started_at",
        "finished_at",
        "evaluator_version",
        "task_versions",
        "bootstrap_seed",
        "bootstrap_replicates",
        "verified_tunable_params",
        "device",
        "images_per_second",
        "user_log",
        "staff_log",
        "error",
        "score_json",
    )
    inlines = [AggregateInline, ResultInline]
    actions = ["rerun_selected"]

    @admin.action(description="Re-run the selected final submissions")
    def rerun_selected(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        done = sum(
            requeue(
                s.pk, note=f"re-run by {request.user.get_username()} (admin)", reset_attempts=True
            )
            for s in queryset
        )
        self.message_user(request, f"{done} submission(s) queued again.", messages.SUCCESS)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "scope", "name", "created", "last_used", "revoked_at")
    list_filter = ("scope",)
    search_fields = ("prefix", "user__username", "name")
    readonly_fields = ("prefix", "token_hash", "created", "last_used")


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "email_verified", "quota_exempt", "affiliation")
    list_filter = ("email_verified", "quota_exempt")
    search_fields = ("user__username", "user__email")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "queues", "pid", "last_seen")


@admin.register(LicenceAcceptance)
class LicenceAcceptanceAdmin(admin.ModelAdmin):
    """Who accepted which licence for which download: a record, so nobody edits or adds to it here."""

    list_display = ("accepted_at", "user", "task", "task_version", "licence", "via", "token")
    list_filter = ("via", "task__benchmark")
    search_fields = ("user__username", "task__slug", "licence")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PhaseAdminForm(forms.ModelForm):
    """Tracks and protocols as ticks rather than JSON text; the model validates the rest
    (closes after opens, no overlap with the benchmark's other phases)."""

    tracks = forms.MultipleChoiceField(choices=Track.choices, widget=forms.CheckboxSelectMultiple)
    protocols = forms.MultipleChoiceField(
        choices=Protocol.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Phase
        fields = "__all__"


@admin.register(Phase)
class PhaseAdmin(admin.ModelAdmin):
    form = PhaseAdminForm
    list_display = ("benchmark", "slug", "name", "opens", "closes", "checkpoints_required")
    list_filter = ("benchmark",)
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}



class ReadOnly:
    """Shows frozen rows; adding, changing and deleting are refused (the models refuse too)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class SnapshotRowInline(ReadOnly, admin.TabularInline):
    model = SnapshotRow
    extra = 0
    fields = ("position", "rank", "tied_with_leader", "method_name", "team", "test_id", "test_ood")
    readonly_fields = fields


@admin.register(BoardSnapshot)
class BoardSnapshotAdmin(ReadOnly, admin.ModelAdmin):
    """Frozen boards (``manage.py snapshot_board``, or a phase's close): read-only for good."""

    list_display = ("slug", "benchmark", "board", "protocol", "split", "phase", "created_at")
    list_filter = ("benchmark", "protocol")
    search_fields = ("slug", "title")
    inlines = [SnapshotRowInline]
