"""Operators' admin pages for teams and invitations: staff rename a team (board rows follow) and
merge teams (submissions, participations and memberships move to the surviving team)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leaderboard.models import Invitation, InvitationStatus, Membership, Participation, Team
from leaderboard.services import teams
from leaderboard.services.teams import TeamError


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("joined",)


class ParticipationInline(admin.TabularInline):
    """Which benchmarks the team's members submit to for it (written by submissions only)."""

    model = Participation
    extra = 0
    fields = ("user", "benchmark", "created")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class TeamAdminForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "slug", "is_solo", "created_by"]

    def clean_name(self) -> str:
        try:
            return teams.clean_name(self.cleaned_data["name"], team=self.instance)
        except TeamError as exc:
            raise forms.ValidationError(exc.message.removeprefix("name: ")) from None


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamAdminForm
    list_display = ("name", "slug", "is_solo", "members", "created")
    list_filter = ("is_solo",)
    search_fields = ("name", "slug", "memberships__user__username")
    raw_id_fields = ("created_by",)
    readonly_fields = ("slug", "created")  # links and the API name teams by slug: it stays
    inlines = [MembershipInline, ParticipationInline]
    actions = ["merge_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(n_members=Count("memberships"))

    @admin.display(description="members", ordering="n_members")
    def members(self, obj: Any) -> int:
        return int(obj.n_members)

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        if change and "name" in form.changed_data:
            teams.rename(obj, obj.name, request.user)  # board rows show the new name too
        super().save_model(request, obj, form, change)

    @admin.action(description="Merge the selected teams into one of them")
    def merge_selected(
        self, request: HttpRequest, queryset: QuerySet[Team]
    ) -> HttpResponse | None:
        chosen = list(queryset.order_by("created"))
        if len(chosen) < 2:
            self.message_user(request, "Select two teams or more to merge.", messages.WARNING)
            return None
        survivor_pk = request.POST.get("survivor")
        if survivor_pk is None:  # first step: ask which team survives
            context = {**self.admin_site.each_context(request), "teams": chosen}
            return render(request, "leaderboard/team_merge_admin.html", context)
        survivor = next((t for t in chosen if str(t.pk) == survivor_pk), None)
        if survivor is None:
            self.message_user(request, "Choose the team to keep among those.", messages.ERROR)
            return None
        for loser in chosen:
            if loser.pk != survivor.pk:
                teams.merge(loser, survivor, request.user)
        self.message_user(
            request, f"{len(chosen) - 1} team(s) merged into {survivor.name}.", messages.SUCCESS
        )
        return None


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("team", "invitee", "invited_by", "status", "created", "responded_at")
    list_filter = ("status",)
    search_fields = ("team__name", "invitee__username")
    raw_id_fields = ("team", "invitee", "invited_by")
    readonly_fields = ("status", "created", "responded_at")  # answered by the invitee, or revoked
    actions = ["revoke_selected"]

    @admin.action(description="Revoke the selected pending invitations")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        done = 0
        for invitation in queryset.filter(status=InvitationStatus.PENDING):
            teams.revoke(invitation, request.user)
            done += 1
        self.message_user(request, f"{done} invitation(s) revoked.", messages.SUCCESS)
