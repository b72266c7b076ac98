"""The "API tokens" page: list, create (the token is shown once) and revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from leaderboard.api.tokens import create_token, revoke
from leaderboard.models import ApiToken, TokenScope

MAX_ACTIVE_TOKENS = 20


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, required=False, help_text="what it is for, e.g. 'GitHub Actions'"
    )
    scope = forms.ChoiceField(
        choices=[
            (TokenScope.SUBMIT, "submit: submit and read your submissions"),
            (TokenScope.READ, "read: read only"),
        ],
        initial=TokenScope.SUBMIT,
    )


def _page(
    request: HttpRequest, form: TokenForm, new_token: str | None = None, status: int = 200
) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created")
    response = render(
        request,
        "leaderboard/tokens.html",
        {"form": form, "tokens": tokens, "new_token": new_token},
        status=status,
    )
    add_never_cache_headers(response)  # the new token must not sit in a cache
    return response


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    active = ApiToken.objects.filter(user=request.user, revoked_at__isnull=True).count()
    if active >= MAX_ACTIVE_TOKENS:
        form.add_error(None, f"You have {active} active tokens; revoke one first.")
        return _page(request, form, status=400)
    token, clear = create_token(
        request.user,
        scope=form.cleaned_data["scope"],
        name=form.cleaned_data["name"],
    )
    messages.success(request, f"Token {token.prefix}… created. Copy it now: it is shown only once.")
    return _page(request, TokenForm(), new_token=clear)


@require_POST
@login_required
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.filter(pk=pk, user=request.user).first()
    if token is None:
        raise Http404("no such token")
    if revoke(token):
        messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("api_tokens")
