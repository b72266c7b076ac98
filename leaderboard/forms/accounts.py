"""Account forms: sign-up (username, unique e-mail, password twice through Django's validators)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        help_text="We send a verification link here; only verified accounts can submit.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip()
        # Only the domain is case-insensitive by RFC, but people treat the whole address so;
        # refusing case variants stops one mailbox from holding several accounts.
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this e-mail address already exists. "
                "Log in, or reset its password if you have forgotten it.",
                code="duplicate_email",
            )
        local, _, domain = email.rpartition("@")
        return f"{local}@{domain.lower()}"

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=False)
        user.email = self.cleaned_data["email"]
        user.is_active = True
        if commit:
            user.save()
        return user
