"""Team API views (docs/api.md, "Teams"): list and create teams, a team's members, invitations
sent and received, accept, decline, revoke, leave. Staff rename and merge in the admin."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.exceptions import ApiError
from leaderboard.api.params import is_slug, slug_path
from leaderboard.api.permissions import MaySubmit, TokenScopePermits
from leaderboard.models import Invitation, InvitationStatus, Team
from leaderboard.models.teams import TEAM_NAME_LIMIT
from leaderboard.models.validators import CONTROL, schema_pattern
from leaderboard.services import teams
from leaderboard.services.teams import TeamError

# What str.strip() removes, less the control characters: Python's and ECMA's "\s" differ, so the
# schema spells the spaces out. A name neither starts nor ends with one (nothing is trimmed, so
# the schema's maxLength is the stored length) and holds no control character.
SPACES = " \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NAME_PATTERN = rf"^[^{SPACES}{CONTROL}](?:[^{CONTROL}]*[^{SPACES}{CONTROL}])?\Z"
MAX_PK = 2**63 - 1
SLUG_PARAM = slug_path("slug", "team slug")
ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH, description="invitation id")


class TeamSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    is_solo = serializers.BooleanField(help_text="a team of one, made on its member's first upload")
    created = serializers.DateTimeField()
    members = serializers.ListField(child=serializers.CharField(), help_text="usernames")


@extend_schema_field(
    {"type": "string", "pattern": schema_pattern(NAME_PATTERN), "maxLength": TEAM_NAME_LIMIT}
)
class TeamNameField(serializers.RegexField):
    """Checked with Python's ``\\Z`` (``$`` would let a final line break through), shown to the
    schema as ECMA's ``$``."""


class TeamCreateSerializer(serializers.Serializer):
    name = TeamNameField(
        NAME_PATTERN,
        max_length=TEAM_NAME_LIMIT,
        trim_whitespace=False,
        help_text="unique whatever the case; no space at either end, no control characters",
    )


class InviteSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text="the user to invite")


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    team = serializers.SlugField()
    team_name = serializers.CharField()
    invitee = serializers.CharField()
    invited_by = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=InvitationStatus.choices)
    created = serializers.DateTimeField()
    responded_at = serializers.DateTimeField(allow_null=True)


def team_json(team: Team) -> dict[str, Any]:
    return {
        "slug": team.slug,
        "name": team.name,
        "is_solo": team.is_solo,
        "created": team.created.isoformat(),
        "members": [m.user.get_username() for m in team.memberships.all()],
    }


def invitation_json(inv: Invitation) -> dict[str, Any]:
    return {
        "id": inv.pk,
        "team": inv.team.slug,
        "team_name": inv.team.name,
        "invitee": inv.invitee.get_username(),
        "invited_by": inv.invited_by.get_username() if inv.invited_by else None,
        "status": inv.status,
        "created": inv.created.isoformat(),
        "responded_at": inv.responded_at.isoformat() if inv.responded_at else None,
    }


def api_error(exc: TeamError) -> ApiError:
    """The service's refusal as API JSON; ``name: …`` and ``username: …`` name the field."""
    field, sep, _ = exc.message.partition(": ")
    named = field if sep and field in ("name", "username") else None
    return ApiError(exc.message, code=exc.code, status_code=exc.status, field=named)


def _permissions(request: Request) -> list[BasePermission]:
    """Anyone may read; writes need a verified account (the schema's security follows)."""
    if request.method in SAFE_METHODS:
        return [TokenScopePermits()]
    return [TokenScopePermits(), IsAuthenticated(), MaySubmit()]


def _teams() -> QuerySet[Team]:
    return Team.objects.prefetch_related("memberships__user").order_by("name")


def _team(slug: str) -> Team:
    team = _teams().filter(slug=slug).first() if is_slug(slug) else None
    if team is None:
        raise ApiError(f"no team '{slug}'", code="not_found", status_code=404)
    return team


class TeamCollection(generics.ListAPIView):
    """``GET``: every team, by name (teams of one included). ``POST``: create a team."""

    serializer_class = TeamSerializer

    def get_permissions(self) -> list[BasePermission]:
        return _permissions(self.request)

    def get_queryset(self) -> QuerySet[Team]:
        return _teams()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([team_json(t) for t in page or []])

    @extend_schema(request=TeamCreateSerializer, responses={201: TeamSerializer})
    def post(self, request: Request) -> Response:
        form = TeamCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            team = teams.create_team(request.user, form.validated_data["name"])
        except TeamError as exc:
            raise api_error(exc) from None
        return Response(team_json(_team(team.slug)), status=status.HTTP_201_CREATED)


@extend_schema(parameters=[SLUG_PARAM])
class TeamDetail(APIView):
    @extend_schema(responses=TeamSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(team_json(_team(slug)))


def _member_or_staff(request: Request, team: Team) -> None:
    if not request.user.is_authenticated:
        raise NotAuthenticated()
    if not (request.user.is_staff or teams.is_member(team, request.user)):
        raise ApiError(
            "only a member of the team sees its invitations",
            code="permission_denied",
            status_code=403,
        )


@extend_schema(parameters=[SLUG_PARAM])
class TeamInvitations(generics.ListAPIView):
    """``GET``: the team's invitations (members and staff). ``POST``: invite a user."""

    permission_classes = [TokenScopePermits, IsAuthenticated, MaySubmit]
    serializer_class = InvitationSerializer

    def get_queryset(self) -> QuerySet[Invitation]:
        team = _team(self.kwargs["slug"])
        _member_or_staff(self.request, team)
        return _invitations().filter(team=team)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([invitation_json(i) for i in page or []])

    @extend_schema(request=InviteSerializer, responses={201: InvitationSerializer})
    def post(self, request: Request, slug: str) -> Response:
        team = _team(slug)
        form = InviteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            invitation = teams.invite(team, request.user, form.validated_data["username"])
        except TeamError as exc:
            raise api_error(exc) from None
        return Response(invitation_json(invitation), status=status.HTTP_201_CREATED)


def _invitations() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("team", "invitee", "invited_by")


@extend_schema_view(get=extend_schema(operation_id="teams_invitations_received"))
class MyInvitations(generics.ListAPIView):
    """Invitations you received, newest first (answered ones included)."""

    permission_classes = [TokenScopePermits, IsAuthenticated]
    serializer_class = InvitationSerializer

    def get_queryset(self) -> QuerySet[Invitation]:
        return _invitations().filter(invitee=self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([invitation_json(i) for i in page or []])


def _invitation(pk: str) -> Invitation:
    number = int(pk) if pk.isdigit() else 0
    found = _invitations().filter(pk=number).first() if 0 < number <= MAX_PK else None
    if found is None:
        raise ApiError(f"no invitation {pk}", code="not_found", status_code=404)
    return found


class _Answer(APIView):
    """Accept, decline (the invitee) or revoke (a member of the team) a pending invitation."""

    permission_classes = [TokenScopePermits, IsAuthenticated, MaySubmit]
    answer: Any

    @extend_schema(parameters=[ID_PARAM], request=None, responses=InvitationSerializer)
    def post(self, request: Request, pk: str) -> Response:
        invitation = _invitation(pk)
        visible = request.user.is_staff or teams.is_member(invitation.team, request.user)
        if invitation.invitee_id != request.user.pk and not visible:
            raise ApiError(f"no invitation {pk}", code="not_found", status_code=404)
        try:
            answered = self.answer(invitation, request.user)
        except TeamError as exc:
            raise api_error(exc) from None
        return Response(invitation_json(answered))


class AcceptInvitation(_Answer):
    answer = staticmethod(teams.accept)


class DeclineInvitation(_Answer):
    answer = staticmethod(teams.decline)


class RevokeInvitation(_Answer):
    answer = staticmethod(teams.revoke)


@extend_schema(parameters=[SLUG_PARAM])
class LeaveTeam(APIView):
    """Leave a team; your past submissions stay with it."""

    permission_classes = [TokenScopePermits, IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, slug: str) -> Response:
        try:
            teams.leave(_team(slug), request.user)
        except TeamError as exc:
            raise api_error(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
