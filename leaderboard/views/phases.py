"""A phase's page (``/b/<benchmark>/phases/<phase>/``): what it scores and when it opens and
closes. Times are written in UTC inside ``<time datetime>`` elements; static/js/localtime.js
shows them in the viewer's time zone."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from leaderboard.models import Phase
from leaderboard.services.phases import phase_states, state_of


def phase_detail(request: HttpRequest, benchmark: str, phase: str) -> HttpResponse:
    found = get_object_or_404(
        Phase.objects.select_related("benchmark"), benchmark__slug=benchmark, slug=phase
    )
    now = timezone.now()
    context = {
        "phase": found,
        "state": state_of(found, now),
        "phases": phase_states(found.benchmark, now),
    }
    return render(request, "leaderboard/phase.html", context)
