"""Colour (RGB) tasks: dermoscopy lesion types and fundus retinopathy grading."""

from __future__ import annotations

import numpy as np

from datasets.synthetic.render import Batch, col, gaussian, sigmoid, soft_inside, spots
from datasets.synthetic.spec import TaskSpec, register_task

# Per lesion type: mean RGB colour, radius, border irregularity, variegation, edge softness.
_DERM = np.array([
    # r     g     b     radius irreg  varieg soft
    [0.55, 0.36, 0.24, 0.48, 0.06, 0.06, 0.03],  # nevus
    [0.36, 0.24, 0.22, 0.60, 0.18, 0.22, 0.03],  # melanoma
    [0.78, 0.55, 0.52, 0.44, 0.08, 0.10, 0.05],  # basal cell carcinoma
    [0.60, 0.46, 0.30, 0.52, 0.10, 0.20, 0.02],  # seborrhoeic keratosis
    [0.66, 0.26, 0.32, 0.36, 0.05, 0.05, 0.06],  # vascular lesion
], np.float32)


def _derm_traits(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    tone = rng.uniform(0.0, 1.0, n)[:, None]
    light, dark = np.array([0.93, 0.78, 0.68]), np.array([0.58, 0.40, 0.30])
    return {
        "skin": (1 - tone) * light + tone * dark,
        # A patient's lesions share a colour cast and size habit beyond what their type implies.
        "lesion_cast": rng.normal(0.0, 0.06, (n, 1)) + rng.normal(0.0, 0.025, (n, 3)),
        "size_habit": np.exp(rng.normal(0.0, 0.15, n)),
        "hair": rng.uniform(0.0, 0.12, n),
        "hair_angle": rng.uniform(0.0, np.pi, n),
    }


def _derm_draw(b: Batch) -> np.ndarray:
    p = _DERM[b.labels]
    radius = col(p[:, 3]) * b.trait("size_habit") * np.exp(b.normal(0.0, 0.18))
    irreg = np.maximum(col(p[:, 4]) + b.normal(0.0, 0.04), 0.0)
    theta = np.arctan2(b.y, b.x)
    border = np.ones_like(b.x)
    for k in (3, 5, 7):  # a few angular harmonics make the outline irregular
        border += irreg / 1.7 * np.cos(k * theta + b.uniform(0, 2 * np.pi))
    r = np.sqrt(b.x**2 + b.y**2)
    mask = soft_inside(r - radius * border, col(p[:, 6]))
    freq = b.uniform(9.0, 16.0)
    pattern = np.sin(freq * b.x + b.uniform(0, 6.3)) * np.sin(freq * b.y + b.uniform(0, 6.3))
    shade = 1.0 + (col(p[:, 5]) + b.normal(0.0, 0.05)) * pattern
    lesion = p[:, None, None, :3] + b.trait("lesion_cast") + b.normal(0.0, 0.045)[..., None]
    skin = b.trait("skin") * (1.0 - 0.15 * r[..., None] ** 2)
    hair_angle = b.trait("hair_angle")
    hairs = np.sin(25.0 * (b.x * np.cos(hair_angle) + b.y * np.sin(hair_angle)))
    skin = skin - (b.trait("hair") * np.maximum(hairs, 0) ** 8)[..., None]
    return skin * (1.0 - mask[..., None]) + lesion * (shade * mask)[..., None]


register_task(TaskSpec(
    slug="derm-synth", name="Dermoscopy lesion type (synthetic)", modality="colour", organ="skin",
    label_type="multiclass",
    classes=(
        "nevus", "melanoma", "basal_cell_carcinoma", "seborrheic_keratosis", "vascular_lesion",
    ),
    channels=3, prior=(0.36, 0.2, 0.15, 0.17, 0.12), traits=_derm_traits, draw=_derm_draw,
    summary="Five lesion types differing in colour, size, border irregularity and internal "
            "variegation, on patient-specific skin tone, hair and illumination.",
    pose_deg=30.0,
))

# Expected number of lesions per retinopathy grade.
_FUNDUS_LESIONS = np.array([0.5, 5.0, 10.0, 15.0, 19.0], np.float32)
_FUNDUS_K = 20


def _fundus_traits(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "fundus": np.stack([rng.uniform(0.65, 0.85, n), rng.uniform(0.28, 0.42, n),
                            rng.uniform(0.10, 0.20, n)], axis=1),
        # Vessel angles are an individual's fingerprint, as in real retinas.
        "vessels": rng.uniform(-1.2, 1.2, (n, 4)),
        "lesion_gain": np.exp(rng.normal(0.0, 0.25, n)),
    }


def _fundus_draw(b: Batch) -> np.ndarray:
    r = np.sqrt(b.x**2 + b.y**2)
    field_of_view = soft_inside(r - 0.92, 0.02)
    base = b.trait("fundus") * (1.0 - 0.35 * r[..., None] ** 2)
    # Left or right eye per image: a patient contributes both.
    eye = col(np.where(b.rng.random(b.n) < 0.5, -1.0, 1.0))
    disc_x = 0.5 * eye
    disc = gaussian(b.x, b.y, disc_x, 0.0, 0.09)
    dx, dy = (b.x - disc_x) * -eye, b.y
    rho, phi = np.sqrt(dx**2 + dy**2), np.arctan2(dy, dx)
    vessels = np.zeros_like(b.x)
    for k in range(4):
        angle = b.trait("vessels")[..., k]
        vessels += np.exp(-((np.sin(phi - angle) * rho) / 0.025) ** 2) * sigmoid((rho - 0.1) / 0.03)
    vessels = np.minimum(vessels, 1.0) * np.exp(-rho)
    grade = b.labels
    count = np.minimum(b.rng.poisson(_FUNDUS_LESIONS[grade] * b.traits["lesion_gain"]), _FUNDUS_K)
    # Lesions cluster around the macula and grow into blot haemorrhages at higher grades.
    lesion_map, _ = spots(b, count, _FUNDUS_K, radius=(0.035, 0.06), region=0.45)
    lesion_map = np.minimum(lesion_map * (1.0 + 0.15 * col(grade)), 1.0)
    exudate_share = col(np.where(grade >= 2, 0.25, 0.0))
    new_vessels = (col(grade == 4) * 0.5 * np.sin(40 * b.x) ** 2 * np.sin(40 * b.y) ** 2
                   * gaussian(b.x, b.y, disc_x, 0.0, 0.25))
    img = base + disc[..., None] * np.array([0.25, 0.45, 0.35], np.float32)
    img = img - (vessels[..., None] * np.array([0.25, 0.2, 0.08], np.float32))
    red = lesion_map * (1.0 - exudate_share)
    yellow = lesion_map * exudate_share
    img = img - red[..., None] * np.array([0.3, 0.25, 0.1], np.float32)
    img = img + yellow[..., None] * np.array([0.15, 0.35, 0.15], np.float32)
    img = img - new_vessels[..., None] * np.array([0.15, 0.15, 0.05], np.float32)
    return img * field_of_view[..., None]


register_task(TaskSpec(
    slug="fundus-synth", name="Fundus retinopathy grade (synthetic)", modality="colour",
    organ="retina", label_type="ordinal",
    classes=("no_dr", "mild", "moderate", "severe", "proliferative"), channels=3,
    prior=(0.42, 0.16, 0.2, 0.11, 0.11), traits=_fundus_traits, draw=_fundus_draw,
    summary="Five ordinal retinopathy grades shown by the number and kind of small red and yellow "
            "lesions and new vessels, on patient-specific pigmentation and vessel layout.",
    pose_deg=8.0, texture=0.03,
))
