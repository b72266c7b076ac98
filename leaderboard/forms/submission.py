"""The upload form. Its fields, lengths, ranges and URL rules are the ``Submission`` model's: the
model is the one source of the limits that the API and the submissions service also apply."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from leaderboard.models import Submission, Track
from leaderboard.models.validators import TEXT_FIELD_VALIDATORS


def _model_formfield(name: str, **kwargs: Any) -> forms.Field:
    """A form field for a model field the form names differently, with the model's bounds and
    validators (a ModelForm only runs those for the fields it names after the model)."""
    model_field = Submission._meta.get_field(name)
    lows = [v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator)]
    highs = [v.limit_value for v in model_field.validators if isinstance(v, MaxValueValidator)]
    bounds = {"min_value": max(lows, default=None), "max_value": min(highs, default=None)}
    field = model_field.formfield(**kwargs, **{k: v for k, v in bounds.items() if v is not None})
    field.validators += [v for v in model_field.validators if v not in field.validators]
    return field


def _formfield(model_field: models.Field, **kwargs: Any) -> forms.Field | None:
    if isinstance(model_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # a bare "example.org/paper" is https
    field = model_field.formfield(**kwargs)
    extra = TEXT_FIELD_VALIDATORS.get(model_field.name)
    if field is not None and extra is not None:
        field.validators.append(extra)  # control characters are refused, as by the API
    return field


class SubmissionForm(forms.ModelForm):
    tunable_params = _model_formfield(
        "reported_tunable_params",
        help_text="self-reported; checkpoints get a verified count from the server",
    )
    team = forms.SlugField(
        required=False,
        help_text="your team's slug (see Teams); empty: the team you submit for on this "
        "benchmark, else your only team, else your team of one",
    )

    class Meta:
        model = Submission
        fields = [
            "benchmark", "track", "protocol", "file", "method_name", "method_family",
            "pretraining", "tunable_params", "seed", "description", "paper_url", "code_url",
            "is_public",
        ]  # fmt: skip
        help_texts = {
            "track": "predictions: a .zip of <task-slug>.csv files; checkpoint: a .zip with "
            "manifest.json and one .safetensors file per task",
            "protocol": "full training set, or the VTAB-1k subsets",
            "file": "a .zip archive",
            "method_family": "e.g. lora, adapter, moe, linear-probe",
            "pretraining": "pre-training domain of the backbone(s) you adapted",
        }
        labels = {"is_public": "Show on the leaderboard"}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        formfield_callback = _formfield

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["benchmark"].empty_label = None
        self.fields["track"].choices = Track.choices

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".zip"):
            raise forms.ValidationError("Upload a .zip archive.")
        return upload
