"""Team pages: the list (with your teams and invitations), a team's page, and the forms that
create a team, invite by username, accept, decline, revoke and leave. Every write is a POST with
its CSRF token that redirects back with a message; a refusal says why and changes nothing."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leaderboard.accounts import verified_required
from leaderboard.models import Invitation, InvitationStatus, Submission, Team
from leaderboard.models.teams import TEAM_NAME_LIMIT
from leaderboard.services import teams
from leaderboard.services.teams import TeamError

PAGE_SIZE = 50


class TeamForm(forms.Form):
    name = forms.CharField(max_length=TEAM_NAME_LIMIT, help_text="unique, whatever the case")


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="the username of the person to invite")


def team_list(request: HttpRequest) -> HttpResponse:
    listed = Team.objects.filter(is_solo=False).prefetch_related("memberships__user")
    page = Paginator(listed.order_by("name"), PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, object] = {"page": page, "form": TeamForm()}
    if request.user.is_authenticated:
        context["mine"] = teams.user_teams(request.user)
        context["invitations"] = Invitation.objects.filter(
            invitee=request.user, status=InvitationStatus.PENDING
        ).select_related("team", "invited_by")
    return render(request, "leaderboard/team_list.html", context)


def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team.objects.prefetch_related("memberships__user"), slug=slug)
    member = request.user.is_authenticated and teams.is_member(team, request.user)
    context: dict[str, object] = {
        "team": team,
        "member": member,
        "invite_form": InviteForm(),
        "submissions": Submission.objects.filter(team=team).count(),
    }
    if member or request.user.is_staff:
        context["pending"] = Invitation.objects.filter(
            team=team, status=InvitationStatus.PENDING
        ).select_related("invitee")
    return render(request, "leaderboard/team_detail.html", context)


def _refused(request: HttpRequest, exc: TeamError) -> None:
    messages.error(request, exc.message)


@require_POST
@login_required
@verified_required
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    if not form.is_valid():
        messages.error(request, "name: " + " ".join(form.errors.get("name", ["invalid"])))
        return redirect("teams")
    try:
        team = teams.create_team(request.user, form.cleaned_data["name"])
    except TeamError as exc:
        _refused(request, exc)
        return redirect("teams")
    messages.success(request, f"Team {team.name} created. Invite its members below.")
    return redirect("team", slug=team.slug)


@require_POST
@login_required
@verified_required
def team_invite(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=slug)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "username: a username is needed")
        return redirect("team", slug=slug)
    try:
        invitation = teams.invite(team, request.user, form.cleaned_data["username"])
    except TeamError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"{invitation.invitee.get_username()} is invited.")
    return redirect("team", slug=slug)


@require_POST
@login_required
def team_leave(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=slug)
    try:
        teams.leave(team, request.user)
    except TeamError as exc:
        _refused(request, exc)
        return redirect("team", slug=slug)
    messages.success(request, f"You left {team.name}; its submissions stay with it.")
    return redirect("teams")


ANSWERS = {"accept": teams.accept, "decline": teams.decline, "revoke": teams.revoke}


@require_POST
@login_required
def invitation_answer(request: HttpRequest, pk: int, answer: str) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.select_related("team"), pk=pk)
    involved = invitation.invitee_id == request.user.pk or teams.is_member(
        invitation.team, request.user
    )
    if answer not in ANSWERS or not (involved or request.user.is_staff):
        raise Http404("no such invitation")
    try:
        done = ANSWERS[answer](invitation, request.user)
    except TeamError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"Invitation to {done.team.name} {done.status}.")
    if answer == "revoke":
        return redirect("team", slug=invitation.team.slug)
    return redirect("teams")
