"""Content negotiation that never refuses: the API speaks JSON (downloads set their own type),
so an unusual ``Accept`` header gets JSON rather than a 406."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class LenientContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, Any]:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (NotAcceptable, Exception):
            renderer = renderers[0]
            return renderer, renderer.media_type
