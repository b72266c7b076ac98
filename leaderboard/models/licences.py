"""Who accepted which task's data licence, when, and through which door (web page or API)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from leaderboard.models.benchmark import Task
from leaderboard.models.tokens import ApiToken


class AcceptedVia(models.TextChoices):
    WEB = "web"
    API = "api"


class LicenceAcceptance(models.Model):
    """One accepted download. ``user`` is empty for anonymous visitors; the licence text and task
    version are copied so the record keeps saying what was accepted after either changes."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="licence_acceptances")
    task_version = models.CharField(max_length=32)
    licence = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="licence_acceptances",
    )
    token = models.ForeignKey(ApiToken, on_delete=models.SET_NULL, null=True, blank=True)
    via = models.CharField(max_length=8, choices=AcceptedVia.choices)
    accepted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-accepted_at"]

    def __str__(self) -> str:
        who = self.user or "anonymous"
        return f"{who} accepted {self.licence} for {self.task_id} v{self.task_version} ({self.via})"
