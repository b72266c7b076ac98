"""Pre-training corpora of the two demo backbones (not the benchmark's generator, nor its labels).

Each corpus is a generator of scenes together with the *factors* that drew them, and the demo
backbones learn to predict those factors from the pixels (a supervised multi-factor objective, with
a MaskFeat-style target of pooled pixel statistics on top). What a backbone learns is therefore set
by what its corpus varies:

*general* -- natural-image-like colour scenes: coloured, shaded, textured backgrounds with one to
three objects (ellipses, boxes, triangles, stars with irregular outlines), each with its own colour,
size, outline irregularity and internal texture, and a scatter of small coloured dots. Its targets
are mostly about colour, object shape, size and texture.

*medical* -- grey-level, scanner-like scenes: a smooth tissue background with speckle or Gaussian
noise, bright or dark blobs with smooth or spiculated outlines, thin bright or dark lines (some
broken), curved layered bands, rings and small spots. Its targets are about fine grey-level
structure: line breaks, spot counts, band frequency, spiculation. It never sees colour: its inputs
are grey images copied into three channels.

Both draw whole batches with array operations (no Python loop over pixels) from their own seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasets.synthetic.render import gaussian, grid, smooth_field, soft_inside

SHAPES = ("ellipse", "box", "triangle", "star")


@dataclass(frozen=True)
class Corpus:
    """A drawn batch: uint8 images (N, S, S, 3), class labels and standardised factor targets."""

    images: np.ndarray
    classes: np.ndarray  # (N,) int64: index into ``class_names``
    factors: np.ndarray  # (N, F) float32
    class_names: tuple[str, ...]
    factor_names: tuple[str, ...]


def _col(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, np.float32).reshape(-1, 1, 1)


def _shape_mask(rng: np.random.Generator, kind: np.ndarray, x: np.ndarray, y: np.ndarray,
                size: np.ndarray, irregular: np.ndarray) -> np.ndarray:
    """Soft masks of the given shape kinds (N,) centred at the origin of (x, y)."""
    n = len(kind)
    theta = np.arctan2(y, x)
    border = np.ones_like(x)
    for k in (3, 5, 7):
        border = border + _col(irregular / 1.7) * np.cos(k * theta + _col(rng.uniform(0, 6.3, n)))
    r = np.sqrt(x**2 + y**2)
    s = _col(size)
    masks = {
        0: soft_inside(r / (s * border) - 1.0, 0.05),
        1: soft_inside(np.maximum(np.abs(x), np.abs(y)) / (s * border) - 1.0, 0.05),
        2: soft_inside(np.maximum(-y, np.abs(x) * 1.7 + y * 0.6) / (s * border) - 0.8, 0.05),
        3: soft_inside(r / (s * (1.0 + 0.45 * np.cos(5 * theta)) * border) - 1.0, 0.05),
    }
    out = np.zeros_like(x)
    for k, m in masks.items():
        out = out + _col(kind == k) * m
    return out


def _rotated(x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray,
             angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = _col(np.cos(angle)), _col(np.sin(angle))
    dx, dy = x - _col(cx), y - _col(cy)
    return c * dx + s * dy, -s * dx + c * dy


def _dots(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, count: np.ndarray,
          k_max: int, radius: tuple[float, float]) -> np.ndarray:
    n = len(count)
    total = np.zeros_like(x)
    for k in range(k_max):
        on = _col(count > k)
        cx, cy = rng.uniform(-0.8, 0.8, n), rng.uniform(-0.8, 0.8, n)
        total = total + on * gaussian(x, y, _col(cx), _col(cy), _col(rng.uniform(*radius, n)))
    return np.minimum(total, 1.0)


def _general(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    xx, yy = grid(size)
    x, y = np.broadcast_to(xx, (n, size, size)), np.broadcast_to(yy, (n, size, size))
    base = rng.uniform(0.05, 0.95, (n, 3)).astype(np.float32)
    tilt = rng.uniform(-0.3, 0.3, (n, 3)).astype(np.float32)
    field = smooth_field(rng.standard_normal((n, 6, 6)), size)
    texture_amp = rng.uniform(0.0, 0.15, n)
    img = (base[:, None, None, :] + tilt[:, None, None, :] * x[..., None]
           + _col(texture_amp)[..., None] * field[..., None] * rng.uniform(0.5, 1.5, (n, 1, 1, 3)))
    n_objects = rng.integers(1, 4, n)
    main_kind = rng.integers(0, len(SHAPES), n)
    main: dict[str, np.ndarray] = {}
    for j in range(3):
        on = n_objects > j
        kind = main_kind if j == 0 else rng.integers(0, len(SHAPES), n)
        sz = rng.uniform(0.15, 0.6, n) if j == 0 else rng.uniform(0.08, 0.3, n)
        irregular = rng.uniform(0.0, 0.3, n)
        cx, cy = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
        ox, oy = _rotated(x, y, cx, cy, rng.uniform(0, 2 * np.pi, n))
        mask = _shape_mask(rng, kind, ox, oy, sz, irregular) * _col(on)
        colour = rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32)
        freq, amp = rng.uniform(6, 20, n), rng.uniform(0.0, 0.3, n)
        fill = 1.0 + _col(amp) * np.sin(_col(freq) * ox) * np.sin(_col(freq) * oy)
        img = img * (1 - mask[..., None]) + (colour[:, None, None, :] * fill[..., None]) * mask[..., None]
        if j == 0:
            main = {"size": sz, "irregular": irregular, "texture": amp, "colour": colour}
    n_dots = rng.integers(0, 16, n)
    dot_colour = rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32)
    dots = _dots(rng, x, y, n_dots, 15, (0.02, 0.05))
    img = img * (1 - dots[..., None]) + dot_colour[:, None, None, :] * dots[..., None]
    img = img + rng.uniform(0.0, 0.05, (n, 1, 1, 1)) * rng.standard_normal(img.shape)
    factors = {
        "objects": n_objects, "size": main["size"], "irregular": main["irregular"],
        "texture": main["texture"], "dots": n_dots, "background_texture": texture_amp,
        **{f"colour_{c}": main["colour"][:, i] for i, c in enumerate("rgb")},
        **{f"background_{c}": base[:, i] for i, c in enumerate("rgb")},
        **{f"dot_{c}": dot_colour[:, i] * (n_dots > 0) for i, c in enumerate("rgb")},
    }
    return img, main_kind, factors


MEDICAL_CLASSES = ("blob", "spiculated", "line", "broken-line", "bands", "ring", "spots")


def _medical(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    xx, yy = grid(size)
    x, y = np.broadcast_to(xx, (n, size, size)), np.broadcast_to(yy, (n, size, size))
    level = rng.uniform(0.05, 0.5, n)
    field = smooth_field(rng.standard_normal((n, 8, 8)), size)
    tissue = rng.uniform(0.0, 0.1, n)
    img = _col(level) + _col(tissue) * field
    kind = rng.integers(0, len(MEDICAL_CLASSES), n)
    contrast = rng.uniform(0.15, 0.5, n) * np.where(rng.random(n) < 0.7, 1.0, -1.0)
    cx, cy = rng.uniform(-0.4, 0.4, n), rng.uniform(-0.4, 0.4, n)
    ox, oy = _rotated(x, y, cx, cy, rng.uniform(0, 2 * np.pi, n))
    blob_size = rng.uniform(0.1, 0.45, n)
    spic = np.where(kind == 1, rng.uniform(0.1, 0.35, n), rng.uniform(0.0, 0.05, n))
    theta = np.arctan2(oy, ox)
    border = 1.0 + _col(spic) * np.cos(_col(rng.integers(7, 14, n)) * theta)
    blob = soft_inside(np.sqrt(ox**2 + oy**2) - _col(blob_size) * border, 0.02)
    width = rng.uniform(0.01, 0.04, n)
    curve = rng.uniform(-0.8, 0.8, n)
    line = np.exp(-((oy - _col(curve) * ox**2) / _col(width)) ** 2)
    gap = 1.0 - np.exp(-(ox / _col(rng.uniform(0.02, 0.05, n))) ** 2)
    band_freq = rng.uniform(3.0, 9.0, n)
    bands = 0.5 + 0.5 * np.cos(_col(band_freq) * np.pi * (oy + 0.1 * np.sin(3 * ox)))
    ring = np.exp(-((np.sqrt(ox**2 + oy**2) - _col(blob_size)) / 0.03) ** 2)
    n_spots = np.where(kind == 6, rng.integers(3, 16, n), rng.integers(0, 3, n))
    spots = _dots(rng, x, y, n_spots, 15, (0.015, 0.04))
    structure = (_col(kind <= 1) * blob + _col(kind == 2) * line + _col(kind == 3) * line * gap
                 + _col(kind == 4) * bands + _col(kind == 5) * ring)
    img = img + _col(contrast) * structure + 0.35 * spots * _col(np.sign(contrast))
    speckle_amp = rng.uniform(0.0, 0.4, n)
    speckle = rng.gamma(4.0, 0.25, img.shape).astype(np.float32)
    img = img * (1.0 + _col(speckle_amp) * (speckle - 1.0))
    img = img + _col(rng.uniform(0.0, 0.05, n)) * rng.standard_normal(img.shape)
    grey = img[..., None] * np.ones(3, np.float32)
    factors = {
        "level": level, "contrast": contrast, "size": blob_size * (kind <= 1), "spiculation": spic,
        "line_width": width * ((kind == 2) | (kind == 3)), "band_frequency": band_freq * (kind == 4),
        "spots": n_spots, "speckle": speckle_amp, "tissue": tissue,
        "ring_radius": blob_size * (kind == 5),
    }
    return grey, kind, factors


def _pooled_targets(images: np.ndarray, grid_n: int, colour: bool) -> dict[str, np.ndarray]:
    """Mean intensity per cell of a ``grid_n``-square grid (per channel when ``colour``)."""
    n, s = images.shape[:2]
    k = s // grid_n
    cells = images.reshape(n, grid_n, k, grid_n, k, 3).mean((2, 4))
    if not colour:
        cells = cells.mean(-1, keepdims=True)
    flat = cells.reshape(n, -1)
    return {f"pool_{i}": flat[:, i] for i in range(flat.shape[1])}


def draw(domain: str, n: int, size: int, seed: int) -> Corpus:
    """``n`` scenes of ``domain`` at ``size`` px from ``seed`` (deterministic)."""
    rng = np.random.default_rng(seed)
    if domain == "general":
        img, classes, factors = _general(rng, n, size)
        names: tuple[str, ...] = SHAPES
        factors.update(_pooled_targets(np.clip(img, 0, 1), 4, colour=True))
    elif domain == "medical":
        img, classes, factors = _medical(rng, n, size)
        names = MEDICAL_CLASSES
        factors.update(_pooled_targets(np.clip(img, 0, 1), 8, colour=False))
    else:
        raise ValueError(f"unknown pre-training domain {domain!r} (general or medical)")
    images = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    matrix = np.stack([np.asarray(v, np.float32) for v in factors.values()], axis=1)
    return Corpus(images=images, classes=np.asarray(classes, np.int64), factors=matrix,
                  class_names=names, factor_names=tuple(factors))


def draw_chunks(domain: str, n: int, size: int, seed: int, chunk: int = 512) -> Corpus:
    """:func:`draw` in chunks of ``chunk`` scenes (bounded memory), each with its own seed."""
    parts = [draw(domain, min(chunk, n - start), size, seed * 1000 + start // chunk)
             for start in range(0, n, chunk)]
    first = parts[0]
    return Corpus(
        images=np.concatenate([p.images for p in parts]),
        classes=np.concatenate([p.classes for p in parts]),
        factors=np.concatenate([p.factors for p in parts]),
        class_names=first.class_names, factor_names=first.factor_names,
    )


# Kept for callers of the former API: images, class labels and class names.
def make_dataset(domain: str, n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    corpus = draw_chunks(domain, n, size, seed)
    return corpus.images, corpus.classes, list(corpus.class_names)

