"""CT and OCT (grayscale) tasks: retinal OCT disease type and CT lung-nodule malignancy."""

from __future__ import annotations

import numpy as np

from datasets.synthetic.render import Batch, col, gaussian, sigmoid, soft_inside, spots
from datasets.synthetic.spec import TaskSpec, register_task


def _oct_traits(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "top": rng.uniform(-0.45, -0.2, n),
        "thickness": rng.uniform(0.3, 0.42, n),
        "curve": rng.uniform(-0.15, 0.25, n),
        "fovea": rng.uniform(0.06, 0.14, n),
        "bright": rng.uniform(0.45, 0.65, n),
        "speckle": rng.uniform(0.1, 0.25, n),
    }


def _oct_draw(b: Batch) -> np.ndarray:
    label = b.labels
    cnv, dme, drusen = (col(label == k) for k in (1, 2, 3))
    bulge_x = b.uniform(-0.4, 0.4)
    fovea = b.trait("fovea") * np.exp(-(b.x / 0.18) ** 2)
    surface = b.trait("top") + b.trait("curve") * b.x**2 - fovea
    thick = b.trait("thickness") * (1.0 + 0.6 * dme * np.exp(-(b.x / 0.45) ** 2))
    # Drusen are small elevations of the pigment line: a sum of narrow bumps along x.
    bumps = sum(np.exp(-0.5 * ((b.x - b.uniform(-0.7, 0.7)) / b.uniform(0.03, 0.06)) ** 2)
                for _ in range(5)) * b.uniform(0.06, 0.1)
    lift = cnv * b.uniform(0.12, 0.22) * np.exp(-((b.x - bulge_x) / 0.18) ** 2) + drusen * bumps
    rpe = surface + thick - lift
    depth = (b.y - surface) / (rpe - surface)
    retina = sigmoid(depth / 0.03) * sigmoid((1.0 - depth) / 0.03)
    layers = 0.55 + 0.25 * np.cos(7.0 * np.pi * depth) * np.exp(-2.0 * depth)
    img = b.trait("bright") * retina * layers
    img = img + 0.9 * b.trait("bright") * np.exp(-((b.y - rpe) / 0.025) ** 2)
    img = img + 0.6 * cnv * gaussian(b.x, b.y, bulge_x, rpe + 0.04, 0.14, 0.06)
    cysts, _ = spots(b, np.where(label == 2, b.rng.integers(2, 6, b.n), 0), 5,
                     radius=(0.04, 0.07), region=0.5)
    cysts = cysts * retina * sigmoid((depth - 0.25) / 0.05)
    img = img * (1.0 - 0.85 * np.minimum(cysts, 1.0))
    speckle = b.rng.gamma(4.0, 0.25, img.shape).astype(np.float32)
    return 0.04 + img * (1.0 + b.trait("speckle") * (speckle - 1.0))


register_task(TaskSpec(
    slug="oct-synth", name="Retinal OCT disease (synthetic)", modality="ct-oct", organ="retina",
    label_type="multiclass", classes=("normal", "cnv", "dme", "drusen"), channels=1,
    prior=(0.4, 0.2, 0.2, 0.2), traits=_oct_traits, draw=_oct_draw,
    summary="OCT B-scans: normal layers, a choroidal neovascular bulge, thickened retina with "
            "fluid cysts, or small drusen under the pigment line; patient-specific retinal shape "
            "and speckle.",
    pose_deg=6.0,
))


def _ct_traits(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "parenchyma": rng.uniform(0.1, 0.22, n),
        "wall": rng.uniform(0.55, 1.2, n),
        "vessel_freq": rng.uniform(5.0, 9.0, (n, 2)),
        "vessel_phase": rng.uniform(0.0, 2 * np.pi, (n, 2)),
        "nodule_size": np.exp(rng.normal(0.0, 0.15, n)),
    }


def _ct_draw(b: Batch) -> np.ndarray:
    malignant = col(b.labels == 1)
    radius = (0.17 + 0.07 * malignant) * b.trait("nodule_size") * np.exp(b.normal(0.0, 0.2))
    spiculation = np.maximum(0.1 * malignant + b.normal(0.0, 0.06), 0.0)
    theta = np.arctan2(b.y, b.x)
    border = 1.0 + spiculation * np.cos(b.uniform(7, 13).round() * theta + b.uniform(0, 6.3))
    r = np.sqrt(b.x**2 + b.y**2)
    nodule = soft_inside(r - radius * border, 0.02)
    calcified = col((b.rng.random(b.n) < 0.35 - 0.3 * b.labels) * 1.0)
    core = calcified * gaussian(b.x, b.y, 0.0, 0.0, 0.4 * radius)
    freq, phase = b.trait("vessel_freq"), b.trait("vessel_phase")
    vessels = (np.maximum(np.sin(freq[..., 0] * b.x + phase[..., 0]), 0.0) ** 12
               + np.maximum(np.sin(freq[..., 1] * (b.x + b.y) + phase[..., 1]), 0.0) ** 12)
    dots, _ = spots(b, b.rng.integers(2, 6, b.n), 5, radius=(0.015, 0.03), region=0.9)
    img = b.trait("parenchyma") + 0.25 * vessels + 0.3 * np.minimum(dots, 1.0)
    img = img + 0.7 * sigmoid((b.x - b.trait("wall")) / 0.03)  # chest wall / pleura
    return img * (1.0 - nodule) + (0.62 + 0.3 * core) * nodule


register_task(TaskSpec(
    slug="ct-nodule-synth", name="CT lung-nodule malignancy (synthetic)", modality="ct-oct",
    organ="lung", label_type="binary", classes=("benign", "malignant"), channels=1,
    prior=(0.62, 0.38), traits=_ct_traits, draw=_ct_draw, test_images_public=False,
    summary="Nodule-centred CT patches: malignant nodules are larger and spiculated, benign ones "
            "smoother and sometimes calcified; patient-specific vessels, chest wall and density. "
            "Test images are kept hidden, so this task accepts checkpoint submissions only.",
    pose_deg=180.0 / 3,
))
