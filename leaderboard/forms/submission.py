from __future__ import annotations

from typing import Any

from django import forms

from leaderboard.models import Benchmark, Pretraining, Protocol, Track


class SubmissionForm(forms.Form):
    benchmark = forms.ModelChoiceField(queryset=Benchmark.objects.all(), empty_label=None)
    track = forms.ChoiceField(
        choices=Track.choices,
        help_text="predictions: a .zip of <task-slug>.csv files; checkpoint: a .zip with "
        "manifest.json and one .safetensors file per task",
    )
    protocol = forms.ChoiceField(
        choices=Protocol.choices, help_text="full training set, or the VTAB-1k subsets"
    )
    file = forms.FileField(help_text="a .zip archive")
    method_name = forms.CharField(max_length=100)
    method_family = forms.CharField(
        max_length=50, required=False, help_text="e.g. lora, adapter, moe, linear-probe"
    )
    pretraining = forms.ChoiceField(
        choices=Pretraining.choices,
        initial=Pretraining.UNKNOWN,
        help_text="pre-training domain of the backbone(s) you adapted",
    )
    tunable_params = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10**13,
        help_text="self-reported; checkpoints get a verified count from the server",
    )
    seed = forms.IntegerField(required=False, min_value=-(2**63), max_value=2**63 - 1)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000
    )
    paper_url = forms.URLField(required=False, max_length=200, assume_scheme="https")
    code_url = forms.URLField(required=False, max_length=200, assume_scheme="https")
    is_public = forms.BooleanField(required=False, initial=True, label="Show on the leaderboard")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".zip"):
            raise forms.ValidationError("Upload a .zip archive.")
        return upload
