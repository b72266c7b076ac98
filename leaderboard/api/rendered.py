"""JSON responses rendered once and cached as bytes (docs/performance.md, "CPU per request").

The bytes are those DRF's renderer gives for the request's accepted media type (an
``indent`` parameter included), so a cached answer is the answer the view would render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request


def variant(request: Request) -> str:
    """What of the negotiated format changes the bytes: the indent asked for, if any."""
    renderer = request.accepted_renderer
    if not isinstance(renderer, JSONRenderer):
        return renderer.media_type
    return f"indent={renderer.get_indent(request.accepted_media_type, {})}"


def renderer_for(request: Request) -> Callable[[Any], bytes]:
    def render(data: Any) -> bytes:
        return bytes(request.accepted_renderer.render(data, request.accepted_media_type, {}))

    return render


def response(request: Request, content: bytes) -> HttpResponse:
    renderer = request.accepted_renderer
    media_type = renderer.media_type
    charset = renderer.charset
    content_type = f"{media_type}; charset={charset}" if charset else media_type
    return HttpResponse(content, content_type=content_type)
