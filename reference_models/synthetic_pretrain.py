"""Synthetic pre-training images for the two demo backbones (not the benchmark's generator).

*general*: natural-image-like colour scenes -- shapes and textures of eight kinds on coloured,
shaded backgrounds. *medical*: grey-level, scanner-like images -- blobs, rings, speckle, vessels,
lesions and layered bands. Both use their own classes and seeds, disjoint from the benchmark tasks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Painter = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return yy, xx


def _centre(rng: np.random.Generator) -> tuple[float, float, float]:
    return float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.12, 0.25))


def _disc(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    cy, cx, r = _centre(rng)
    return ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.float32)


def _square(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    cy, cx, r = _centre(rng)
    return ((abs(yy - cy) < r) & (abs(xx - cx) < r)).astype(np.float32)


def _triangle(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    cy, cx, r = _centre(rng)
    return ((yy - cy < r) & (yy - cy > -r) & (abs(xx - cx) < (yy - cy + r) / 2)).astype(np.float32)


def _stripes(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    angle, freq = rng.uniform(0, np.pi), rng.uniform(4, 10)
    return (np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy)) > 0).astype(np.float32)


def _checker(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    n = rng.integers(3, 8)
    return ((np.floor(yy * n) + np.floor(xx * n)) % 2).astype(np.float32)


def _cross(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    cy, cx, r = _centre(rng)
    w = r / 3
    inside = (abs(yy - cy) < r) & (abs(xx - cx) < r)
    return (inside & ((abs(yy - cy) < w) | (abs(xx - cx) < w))).astype(np.float32)


def _two_discs(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    return np.maximum(_disc(rng, yy, xx), _disc(rng, yy, xx)) * 0.6


def _gradient_blob(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    cy, cx, r = _centre(rng)
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)).astype(np.float32)


GENERAL: dict[str, Painter] = {
    "disc": _disc, "square": _square, "triangle": _triangle, "stripes": _stripes,
    "checker": _checker, "cross": _cross, "two-discs": _two_discs, "glow": _gradient_blob,
}


def general_image(rng: np.random.Generator, painter: Painter, size: int) -> np.ndarray:
    yy, xx = _grid(size)
    base = rng.uniform(0, 1, 3).astype(np.float32)
    tilt = rng.uniform(-0.4, 0.4, 3).astype(np.float32)
    background = base + tilt * (yy[..., None] if rng.random() < 0.5 else xx[..., None])
    # Opposite hue-ish colour: shapes always stand out, as objects in photos mostly do.
    colour = ((base + 0.5 + rng.uniform(-0.15, 0.15, 3)) % 1.0).astype(np.float32)
    mask = painter(rng, yy, xx)[..., None]
    image = background * (1 - mask) + colour * mask + rng.normal(0, 0.05, (size, size, 3))
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def _m_blob(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    return _gradient_blob(rng, yy, xx)


def _m_ring(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    cy, cx, r = _centre(rng)
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    return np.exp(-((d - r) ** 2) / (2 * (r / 6) ** 2)).astype(np.float32)


def _m_speckle(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    out = np.zeros_like(yy)
    for _ in range(rng.integers(5, 12)):
        cy, cx = rng.uniform(0.1, 0.9, 2)
        out += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.02**2))
    return np.clip(out, 0, 1)


def _m_vessels(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    out = np.zeros_like(yy)
    for _ in range(rng.integers(2, 4)):
        a, b, c = rng.uniform(-1.5, 1.5), rng.uniform(0.2, 0.8), rng.uniform(2, 6)
        curve = b + 0.1 * np.sin(c * xx) + a * (xx - 0.5) ** 2
        out += np.exp(-((yy - curve) ** 2) / (2 * 0.015**2))
    return np.clip(out, 0, 1)


def _m_lesion(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    tissue = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.4**2).astype(np.float32) * 0.8
    return np.clip(tissue - 0.7 * _gradient_blob(rng, yy, xx) * tissue, 0, 1)


def _m_bands(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    freq, phase = rng.uniform(3, 7), rng.uniform(0, 2 * np.pi)
    wave = 0.05 * np.sin(2 * np.pi * xx * rng.uniform(0.5, 2))
    return (0.5 + 0.5 * np.sin(2 * np.pi * freq * (yy + wave) + phase)).astype(np.float32)


MEDICAL: dict[str, Painter] = {
    "blob": _m_blob, "ring": _m_ring, "speckle": _m_speckle, "vessels": _m_vessels,
    "lesion": _m_lesion, "bands": _m_bands,
}


def medical_image(rng: np.random.Generator, painter: Painter, size: int) -> np.ndarray:
    yy, xx = _grid(size)
    level = rng.uniform(0.05, 0.3)
    contrast = rng.uniform(0.5, 0.9)
    grey = level + contrast * painter(rng, yy, xx) + rng.normal(0, 0.06, (size, size))
    tint = rng.uniform(0.9, 1.0, 3).astype(np.float32)  # near-grey, like most scanners
    return np.clip(grey[..., None] * tint * 255, 0, 255).astype(np.uint8)


def make_dataset(domain: str, n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    painters = GENERAL if domain == "general" else MEDICAL
    draw = general_image if domain == "general" else medical_image
    names = list(painters)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(names), n)
    images = np.stack([draw(rng, painters[names[y]], size) for y in labels])
    return images, labels.astype(np.int64), names
