"""Vectorised drawing primitives and the acquisition model shared by every synthetic task.

Images are drawn in float32 on normalised coordinates (``[-1, 1]`` across the image, y down), a
batch at a time, so any image size works and nothing loops over pixels. Each patient carries a
pose, exposure, contrast, scanner tint, noise level and a smooth background field; every image of
that patient reuses them with a small jitter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasets.synthetic.spec import DrawFn

TEXTURE_RES = 8
CHUNK = 256


@dataclass
class Batch:
    """What a task's ``draw`` receives: posed coordinates, labels and per-image patient traits."""

    rng: np.random.Generator
    size: int
    labels: np.ndarray
    traits: dict[str, np.ndarray]
    x: np.ndarray  # (N, S, S) posed coordinates
    y: np.ndarray

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def trait(self, name: str) -> np.ndarray:
        """A per-image trait shaped to broadcast against (N, S, S)."""
        value = self.traits[name]
        return value.reshape(value.shape[0], *([1] * 2), *value.shape[1:]).astype(np.float32)

    def uniform(self, low: float, high: float) -> np.ndarray:
        return self.rng.uniform(low, high, (self.n, 1, 1)).astype(np.float32)

    def normal(self, mean: np.ndarray | float, sd: float) -> np.ndarray:
        shape = np.shape(mean) if np.ndim(mean) else (self.n, 1, 1)
        return (mean + sd * self.rng.standard_normal(shape)).astype(np.float32)


def col(values: np.ndarray) -> np.ndarray:
    """(N,) → (N, 1, 1) float32, to broadcast a per-image value over pixels."""
    return np.asarray(values, np.float32).reshape(-1, 1, 1)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)


def soft_inside(distance: np.ndarray, edge: float | np.ndarray = 0.02) -> np.ndarray:
    """1 inside (distance < 0), 0 outside, with an anti-aliased edge of width ``edge``."""
    return sigmoid(-distance / edge)


def ellipse(x: np.ndarray, y: np.ndarray, cx: float | np.ndarray, cy: float | np.ndarray,
            rx: float | np.ndarray, ry: float | np.ndarray, edge: float = 0.02) -> np.ndarray:
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    return soft_inside(r - 1.0, edge / np.minimum(rx, ry))


def gaussian(x: np.ndarray, y: np.ndarray, cx: float | np.ndarray, cy: float | np.ndarray,
             sx: float | np.ndarray, sy: float | np.ndarray | None = None) -> np.ndarray:
    sy = sx if sy is None else sy
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2)).astype(np.float32)


def spots(batch: Batch, count: np.ndarray, k_max: int, *, radius: tuple[float, float],
          region: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k_max`` small round spots per image, ``count`` of them switched on.

    Returns (spot map summed over spots, the per-spot on/off mask) so callers can colour them.
    """
    n = batch.n
    on = (np.arange(k_max)[None, :] < np.asarray(count)[:, None]).astype(np.float32)
    cx = batch.rng.uniform(-region, region, (n, k_max)).astype(np.float32)
    cy = batch.rng.uniform(-region, region, (n, k_max)).astype(np.float32)
    rad = batch.rng.uniform(*radius, (n, k_max)).astype(np.float32)
    total = np.zeros_like(batch.x)
    for k in range(k_max):  # k_max is small; each step is a whole-batch array operation
        if not on[:, k].any():
            continue
        total += col(on[:, k]) * gaussian(batch.x, batch.y, col(cx[:, k]), col(cy[:, k]),
                                          col(rad[:, k]))
    return total, on


@lru_cache(maxsize=16)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    yy, xx = np.meshgrid(c, c, indexing="ij")
    return xx, yy


@lru_cache(maxsize=16)
def upsample_matrix(low: int, size: int) -> np.ndarray:
    """(size, low) bilinear interpolation weights, to enlarge a low-resolution field with einsum."""
    pos = np.clip((np.arange(size) + 0.5) / size * low - 0.5, 0, low - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, low - 1)
    frac = pos - lo
    weights = np.zeros((size, low), np.float32)
    weights[np.arange(size), lo] += 1.0 - frac
    weights[np.arange(size), hi] += frac
    return weights


def smooth_field(low_res: np.ndarray, size: int) -> np.ndarray:
    """(N, L, L) → (N, S, S) by bilinear interpolation."""
    up = upsample_matrix(low_res.shape[-1], size)
    return np.einsum("sl,nlm,tm->nst", up, low_res.astype(np.float32), up, optimize=True)


def posed_grid(size: int, angle: np.ndarray, shift: np.ndarray, zoom: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in each image's object frame: rotate by ``angle``, move by ``shift``, scale."""
    xx, yy = grid(size)
    cos, sin = col(np.cos(angle)), col(np.sin(angle))
    dx, dy = xx[None] - col(shift[:, 0]), yy[None] - col(shift[:, 1])
    z = col(zoom)
    return (cos * dx + sin * dy) / z, (-sin * dx + cos * dy) / z


def nuisance_traits(rng: np.random.Generator, n: int, *, pose_deg: float,
                    noise: tuple[float, float]) -> dict[str, np.ndarray]:
    """Acquisition factors drawn once per patient."""
    return {
        "_angle": np.deg2rad(rng.normal(0.0, pose_deg, n)),
        "_shift": rng.normal(0.0, 0.05, (n, 2)),
        "_zoom": np.exp(rng.normal(0.0, 0.08, n)),
        "_brightness": rng.normal(0.0, 0.05, n),
        "_contrast": np.exp(rng.normal(0.0, 0.15, n)),
        "_tint": 1.0 + rng.normal(0.0, 0.05, (n, 3)),
        "_noise": rng.uniform(*noise, n),
        "_texture": rng.standard_normal((n, TEXTURE_RES, TEXTURE_RES)),
    }


def _jittered_pose(rng: np.random.Generator, traits: dict[str, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = traits["_angle"].shape[0]
    angle = traits["_angle"] + np.deg2rad(rng.normal(0.0, 4.0, n))
    shift = traits["_shift"] + rng.normal(0.0, 0.03, (n, 2))
    zoom = traits["_zoom"] * np.exp(rng.normal(0.0, 0.03, n))
    return angle, shift, zoom


def acquire(image: np.ndarray, traits: dict[str, np.ndarray], rng: np.random.Generator,
            texture: float) -> np.ndarray:
    """Apply the patient's scanner to a clean (N, S, S, C) rendering and quantise to uint8."""
    size = image.shape[1]
    field = smooth_field(traits["_texture"], size)[..., None]
    out = image + texture * field
    out = 0.5 + col(traits["_contrast"])[..., None] * (out - 0.5)
    out += col(traits["_brightness"])[..., None]
    if out.shape[-1] == 3:
        out *= traits["_tint"][:, None, None, :].astype(np.float32)
    out += col(traits["_noise"])[..., None] * rng.standard_normal(out.shape, dtype=np.float32)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def render_batch(draw: DrawFn, rng: np.random.Generator, size: int, channels: int,
                 labels: np.ndarray, traits: dict[str, np.ndarray], texture: float) -> np.ndarray:
    angle, shift, zoom = _jittered_pose(rng, traits)
    x, y = posed_grid(size, angle, shift, zoom)
    batch = Batch(rng=rng, size=size, labels=labels, traits=traits, x=x, y=y)
    clean = np.asarray(draw(batch), np.float32)
    if clean.ndim == 3:
        clean = clean[..., None]
    if clean.shape != (len(labels), size, size, channels):
        want = (len(labels), size, size, channels)
        raise ValueError(f"draw returned shape {clean.shape}, expected {want}")
    return acquire(clean, traits, rng, texture)


def make_unique(images: np.ndarray) -> np.ndarray:
    """Nudge one pixel of any exact duplicate so that no two images share a content hash."""
    flat = images.reshape(len(images), -1)
    seen: set[bytes] = set()
    for i in range(len(flat)):
        key = hashlib.sha256(flat[i].tobytes()).digest()
        bump = 0
        while key in seen:  # practically never taken: acquisition noise already differs per image
            pixel = (i + bump) % flat.shape[1]
            flat[i, pixel] = np.uint8((int(flat[i, pixel]) + 1) % 256)
            key = hashlib.sha256(flat[i].tobytes()).digest()
            bump += 1
        seen.add(key)
    return images
