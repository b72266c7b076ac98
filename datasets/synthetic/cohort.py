"""Patients, their images and labels: everything about a task except the pixels.

Labels are mostly a property of the patient (a patient's images usually share a diagnosis), with
a per-image chance of differing. Together with the patient-specific appearance drawn in ``render``,
this makes unseen patients (``test_ood``) harder than unseen images of seen patients (``test_id``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets.synthetic.render import nuisance_traits
from datasets.synthetic.spec import TaskSpec

MIN_PATIENTS = 20


@dataclass
class Cohort:
    patient_index: np.ndarray  # (N,) int: which patient each image belongs to
    patient_ids: np.ndarray  # (N,) unicode
    image_ids: np.ndarray  # (N,) unicode, unique
    labels: np.ndarray  # (N,) int64 or (N, K) uint8
    traits: dict[str, np.ndarray]  # per patient

    def __len__(self) -> int:
        return len(self.image_ids)

    def image_traits(self, index: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.patient_index[index]
        return {name: value[rows] for name, value in self.traits.items()}


def n_patients_for(spec: TaskSpec, scale: float) -> int:
    return max(MIN_PATIENTS, round(spec.n_patients * scale))


def _patient_labels(spec: TaskSpec, rng: np.random.Generator, n: int) -> np.ndarray:
    prior = np.asarray(spec.prior, float)
    if spec.label_type == "multilabel":
        return (rng.random((n, len(prior))) < prior).astype(np.uint8)
    return rng.choice(len(prior), size=n, p=prior / prior.sum()).astype(np.int64)


def _image_labels(spec: TaskSpec, rng: np.random.Generator, inherited: np.ndarray) -> np.ndarray:
    keep = rng.random(inherited.shape) < spec.stickiness
    if spec.label_type == "multilabel":
        fresh = _patient_labels(spec, rng, len(inherited))
        return np.where(keep, inherited, fresh).astype(np.uint8)
    if spec.label_type == "ordinal":
        # An ordinal grade drifts to a neighbouring grade rather than anywhere on the scale.
        step = rng.choice(np.array([-1, 1]), size=len(inherited))
        fresh = np.clip(inherited + step, 0, len(spec.classes) - 1)
    else:
        fresh = _patient_labels(spec, rng, len(inherited))
    return np.where(keep, inherited, fresh).astype(np.int64)


def make_cohort(spec: TaskSpec, rng: np.random.Generator, scale: float) -> Cohort:
    n_patients = n_patients_for(spec, scale)
    low, high = spec.images_per_patient
    per_patient = rng.integers(low, high + 1, n_patients)
    patient_index = np.repeat(np.arange(n_patients), per_patient)
    # Shuffle so that neighbouring images (and image ids) say nothing about patients.
    patient_index = patient_index[rng.permutation(len(patient_index))]
    labels = _image_labels(spec, rng, _patient_labels(spec, rng, n_patients)[patient_index])
    traits = nuisance_traits(rng, n_patients, pose_deg=spec.pose_deg, noise=spec.noise)
    traits.update(spec.traits(rng, n_patients))
    patient_names = np.array([f"p{k:04d}" for k in rng.permutation(n_patients)])
    n_images = len(patient_index)
    image_ids = np.array([f"{spec.slug}-{k:05d}" for k in range(n_images)])
    return Cohort(
        patient_index=patient_index, patient_ids=patient_names[patient_index],
        image_ids=image_ids, labels=labels, traits=traits,
    )
