"""Per-user profile: only accounts with a verified e-mail address may submit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.signals import post_save
from django.dispatch import receiver


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    email_verified = models.BooleanField(default=False)
    affiliation = models.CharField(max_length=200, blank=True)
    quota_exempt = models.BooleanField(
        default=False, help_text="load-test or operator accounts that bypass the submission quotas"
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _create_profile(sender: object, instance: object, created: bool, **kwargs: object) -> None:
    if created:
        Profile.objects.get_or_create(user=instance)
