"""A strict content-security policy: scripts and styles from this origin only, no inline script,
no eval; data is passed to scripts as JSON (``json_script``) that the browser does not execute."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and not request.path.startswith(self.exempt_prefixes()):
            response.headers.setdefault("Content-Security-Policy", self.policy)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @staticmethod
    def exempt_prefixes() -> tuple[str, ...]:
        # The admin ships inline scripts of its own. The API docs need no exemption: their
        # scripts and styles are static files of this origin (drf-spectacular-sidecar).
        return tuple(getattr(settings, "CONTENT_SECURITY_POLICY_EXEMPT", ("/admin/",)))


class DatabaseUnavailableMiddleware:
    """A page that needs the database while it is down or restarting answers 503 with a
    Retry-After, not a 500: nothing is wrong with the request, and it will work again shortly
    (the API's own handler does the same for JSON, leaderboard/api/exceptions.py)."""

    retry_after_s = 10

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, (OperationalError, InterfaceError)):
            return None
        response = HttpResponse(
            "The leaderboard's database is unreachable right now; please try again in a few "
            "seconds.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response.headers["Retry-After"] = str(self.retry_after_s)
        return response
