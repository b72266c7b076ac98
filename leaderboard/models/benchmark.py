"""Benchmarks, modalities and tasks: the registered mirror of the task bundles on disk."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from datasets.bundle import LABEL_TYPES, OOD_LEVELS, SPLITS

LABEL_TYPE_CHOICES = [(t, t) for t in LABEL_TYPES]
OOD_LEVEL_CHOICES = [
    ("patient", "patient: test_ood patients never appear in training"),
    ("site", "site: test_ood comes from a held-out site or centre"),
    ("none", "none: no out-of-distribution split"),
]
assert {c for c, _ in OOD_LEVEL_CHOICES} == set(OOD_LEVELS)

OOD_LEVEL_EXPLANATIONS = {
    "patient": (
        "The test_ood split holds patients that never appear in train, val or test_id: "
        "it measures generalisation to new patients."
    ),
    "site": (
        "The test_ood split comes from a site or centre held out by the source "
        "(e.g. another hospital): it measures generalisation across acquisition sites, "
        "not necessarily across patients."
    ),
    "none": (
        "The source provides no patient ids and no separate site, so there is no "
        "out-of-distribution split; OOD columns show n/a."
    ),
}


class Benchmark(models.Model):
    slug = models.SlugField(unique=True, max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    synthetic = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # Ladder-style reporting for the standing board (docs/operations.md, evaluator/ladder.py)
    ladder = models.BooleanField(
        default=False,
        help_text="Ladder: a team's shown score moves only on a significant improvement",
    )
    ladder_margin = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0)],
        help_text="Ladder: the lower end of the paired 95% CI of new minus shown must exceed this",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Modality(models.Model):
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="modalities")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["benchmark", "order", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["benchmark", "slug"], name="modality_unique_per_benchmark"
            )
        ]
        verbose_name_plural = "modalities"

    def __str__(self) -> str:
        return f"{self.benchmark.slug}/{self.slug}"


class Task(models.Model):
    slug = models.SlugField(unique=True, max_length=64)  # unique across the whole server
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="tasks")
    modality = models.ForeignKey(Modality, on_delete=models.PROTECT, related_name="tasks")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    organ = models.CharField(max_length=100, blank=True)
    label_type = models.CharField(max_length=16, choices=LABEL_TYPE_CHOICES)
    classes = models.JSONField(help_text="class or label names, in column order")
    primary_metric = models.CharField(max_length=32)
    image_size = models.PositiveIntegerField()
    channels = models.PositiveSmallIntegerField()
    version = models.CharField(max_length=32)
    source = models.TextField()
    license = models.CharField(max_length=200)
    citation = models.TextField(blank=True)
    test_images_public = models.BooleanField(default=True)
    ood_level = models.CharField(max_length=16, choices=OOD_LEVEL_CHOICES, default="patient")
    synthetic = models.BooleanField(default=False)
    split_counts = models.JSONField(
        default=dict, help_text="{split: {n_images, n_patients}} for train, val, test_id, test_ood"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["benchmark", "modality__order", "slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def ood_explanation(self) -> str:
        return OOD_LEVEL_EXPLANATIONS[self.ood_level]

    @property
    def accepts_predictions(self) -> bool:
        return self.test_images_public

    def split_rows(self) -> list[dict[str, object]]:
        return [
            {"split": s, **self.split_counts.get(s, {"n_images": 0, "n_patients": 0})}
            for s in SPLITS
        ]
