"""X-ray (grayscale) tasks: chest findings (multilabel) and long-bone fracture (binary)."""

from __future__ import annotations

import numpy as np

from datasets.synthetic.render import Batch, col, ellipse, gaussian, sigmoid
from datasets.synthetic.spec import TaskSpec, register_task

CXR_FINDINGS = ("cardiomegaly", "effusion", "nodule", "pneumothorax")


def _cxr_traits(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "body": rng.uniform(0.78, 0.95, n),
        "lung_w": rng.uniform(0.24, 0.32, n),
        "lung_h": rng.uniform(0.48, 0.6, n),
        "heart": rng.uniform(0.17, 0.23, n),
        "rib_freq": rng.uniform(16.0, 24.0, n),
        "rib_phase": rng.uniform(0.0, 2 * np.pi, n),
        "tissue": rng.uniform(0.5, 0.65, n),
    }


def _cxr_draw(b: Batch) -> np.ndarray:
    find = b.labels.astype(np.float32)
    body = ellipse(b.x, b.y, 0.0, 0.1, b.trait("body"), 1.1, edge=0.05)
    img = 0.06 + (b.trait("tissue") - 0.06) * body
    lungs = np.zeros_like(b.x)
    lung_w, lung_h = b.trait("lung_w"), b.trait("lung_h")
    side = np.where(b.rng.random(b.n) < 0.5, -1.0, 1.0).astype(np.float32)
    ptx_side = col(side)
    for s in (-1.0, 1.0):
        lung = ellipse(b.x, b.y, s * 0.36, -0.05, lung_w, lung_h, edge=0.04)
        effusion = col(find[:, 1]) * sigmoid((b.y - (0.22 + b.uniform(-0.08, 0.08))) / 0.04)
        edge = s * b.x - (0.36 + 0.2 * lung_w)
        collapsed = col(find[:, 3] * (side == s)) * sigmoid(edge / 0.03)
        lungs += lung * (1.0 - 0.9 * effusion) * (1.0 + 0.5 * collapsed)
    ribs = 0.07 * np.maximum(np.sin(b.trait("rib_freq") * b.y + b.trait("rib_phase")), 0.0) ** 2
    ptx = col(find[:, 3]) * sigmoid((ptx_side * b.x - 0.5) / 0.03)
    img = img - lungs * (0.38 - ribs * (1.0 - ptx))
    heart_rx = b.trait("heart") * (1.0 + 0.4 * col(find[:, 0])) * np.exp(b.normal(0.0, 0.08))
    img = img + 0.3 * ellipse(b.x, b.y, 0.06, 0.28, heart_rx, 0.2, edge=0.04)
    img = img + 0.25 * gaussian(b.x, b.y, 0.0, -0.2, 0.07, 0.5)  # mediastinum
    nodule_x = b.uniform(0.25, 0.45) * col(np.where(b.rng.random(b.n) < 0.5, -1.0, 1.0))
    nodule = gaussian(b.x, b.y, nodule_x, b.uniform(-0.4, 0.2), b.uniform(0.035, 0.06))
    return img + 0.22 * col(find[:, 2]) * nodule


register_task(TaskSpec(
    slug="cxr-synth", name="Chest X-ray findings (synthetic)", modality="xray", organ="chest",
    label_type="multilabel", classes=CXR_FINDINGS, channels=1, prior=(0.28, 0.22, 0.2, 0.15),
    traits=_cxr_traits, draw=_cxr_draw,
    summary="Four independent findings (enlarged heart, basal effusion, a small nodule, a "
            "collapsed lung edge) on patient-specific body habitus, rib pattern and exposure.",
    pose_deg=5.0,
))


def _bone_traits(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "width": rng.uniform(0.1, 0.17, n),
        "cortex": rng.uniform(0.03, 0.05, n),
        "density": rng.uniform(0.45, 0.7, n),
        "soft": rng.uniform(0.3, 0.5, n),
        "canal": rng.uniform(-0.5, 0.5, n),
    }


def _bone_draw(b: Batch) -> np.ndarray:
    fractured = col(b.labels == 1)
    y0 = b.uniform(-0.5, 0.5)
    slope = b.uniform(-0.8, 0.8)
    across = b.y - y0 - slope * b.x
    # The distal fragment is displaced sideways by a small, variable amount.
    x = b.x - fractured * b.uniform(0.0, 0.05) * sigmoid(across / 0.01)
    width, cortex = b.trait("width"), b.trait("cortex")
    shaft = sigmoid((width - np.abs(x)) / 0.012)
    marrow = sigmoid((width - cortex - np.abs(x)) / 0.012)
    ends = sum(gaussian(x, b.y, 0.0, e, 2.2 * width, 0.12) for e in (-0.95, 0.95))
    bone = b.trait("density") * (np.maximum(shaft, np.minimum(ends, 1.0)) - 0.45 * marrow)
    in_bone = sigmoid((width + 0.02 - np.abs(x)) / 0.01)
    gap = np.exp(-(across / b.uniform(0.01, 0.025)) ** 2) * in_bone
    bone = bone * (1.0 - 0.85 * fractured * gap)
    # A nutrient canal is a thin oblique line in the cortex of many healthy bones: a look-alike.
    canal = np.exp(-((b.y - b.trait("canal") - 0.6 * b.x) / 0.012) ** 2) * (np.abs(x) < width)
    bone = bone * (1.0 - 0.4 * col(b.rng.random(b.n) < 0.5) * canal)
    tissue = b.trait("soft") * 0.35 * sigmoid((2.8 * width - np.abs(b.x)) / 0.06)
    return 0.08 + tissue + bone


register_task(TaskSpec(
    slug="bone-xray-synth", name="Long-bone fracture (synthetic)", modality="xray", organ="bone",
    label_type="binary", classes=("no_fracture", "fracture"), channels=1, prior=(0.6, 0.4),
    traits=_bone_traits, draw=_bone_draw,
    summary="A long bone with or without a thin, slightly displaced fracture line; healthy bones "
            "may show a look-alike nutrient canal. Patient-specific bone width, density and soft "
            "tissue.",
    pose_deg=35.0,
))
