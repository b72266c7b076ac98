"""Split rules for task bundles: one precise message per violation.

``check_split_rules`` works on in-memory arrays (importers and generators call it before writing);
``validate_task`` loads a bundle from disk, hidden tree included, and raises ``BundleError`` listing
every problem.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from datasets.bundle import (
    PROTOCOL_1K_SIZES,
    SPLITS,
    TEST_SPLITS,
    BundleError,
    SplitData,
    TaskMeta,
    load_protocol,
    load_split,
    read_meta,
    split_counts,
    task_dir,
)

MAX_EXAMPLES = 5
# Characters that would break a predictions CSV row or a file name built from an id.
FORBIDDEN_ID_CHARS = set(",\"'\n\r\t/\\")


def examples(values: np.ndarray | list[str], noun: str) -> str:
    """``"P0012, P0040 (2 patients)"``: a few sorted examples and the total count."""
    items = sorted({str(v) for v in values})
    shown = ", ".join(items[:MAX_EXAMPLES]) + (", ..." if len(items) > MAX_EXAMPLES else "")
    plural = noun if len(items) == 1 else f"{noun}s"
    return f"{shown} ({len(items)} {plural})"


def _strings(array: np.ndarray | None) -> np.ndarray:
    return np.zeros(0, dtype=str) if array is None else np.asarray(array).astype(str).reshape(-1)


def _check_lengths(split: str, data: SplitData) -> list[str]:
    n = len(data.image_ids)
    problems = []
    if np.asarray(data.image_ids).ndim != 1:
        problems.append(f"{split}: image_ids must be 1-D, not shape {np.shape(data.image_ids)}")
    for name in ("images", "labels", "patient_ids"):
        value = getattr(data, name)
        if value is not None and len(value) != n:
            problems.append(f"{split}: {name} has {len(value)} rows but image_ids has {n}")
    return problems


def _check_images(meta: TaskMeta, split: str, images: np.ndarray) -> list[str]:
    want = (meta.image_size, meta.image_size, meta.channels)
    problems = []
    if images.dtype != np.uint8:
        problems.append(f"{split}: images dtype is {images.dtype}, expected uint8")
    if images.ndim != 4 or tuple(images.shape[1:]) != want:
        problems.append(
            f"{split}: images shape is {tuple(images.shape)}, "
            f"expected Nx{want[0]}x{want[1]}x{want[2]}"
        )
    return problems


def _check_labels(meta: TaskMeta, split: str, labels: np.ndarray) -> list[str]:
    k = meta.num_classes
    if meta.label_type == "multilabel":
        if labels.dtype != np.uint8 or labels.ndim != 2 or labels.shape[1] != k:
            return [f"{split}: multilabel labels must be uint8 Nx{k}, not {labels.dtype} "
                    f"shape {tuple(labels.shape)}"]
        bad = np.flatnonzero((labels > 1).any(axis=1))
        return [f"{split}: multilabel labels must be 0/1; {len(bad)} rows are not "
                f"(first row {int(bad[0])})"] if len(bad) else []
    if labels.dtype != np.int64 or labels.ndim != 1:
        return [f"{split}: {meta.label_type} labels must be int64 of shape (N,), not "
                f"{labels.dtype} shape {tuple(labels.shape)}"]
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if len(bad):
        return [f"{split}: {len(bad)} labels outside [0, {k}) (first: row {int(bad[0])} "
                f"value {int(labels[bad[0]])})"]
    return []


def _check_ids(split: str, ids: np.ndarray) -> list[str]:
    if ids.dtype.kind != "U":
        return [f"{split}: image_ids must be unicode strings, not {ids.dtype}"]
    bad = [str(i) for i in ids if not str(i).strip() or set(str(i)) & FORBIDDEN_ID_CHARS]
    if bad:
        return [f"{split}: image ids empty or containing a comma, quote, slash or whitespace "
                f"control character: {examples([repr(b) for b in bad], 'id')}"]
    return []


def _check_counts(meta: TaskMeta, splits: dict[str, SplitData]) -> list[str]:
    problems = []
    if len(splits["train"]) == 0:
        problems.append("train is empty")
    n_ood = len(splits["test_ood"])
    if meta.ood_level == "none" and n_ood:
        problems.append(f"ood_level is 'none' but test_ood has {n_ood} images")
    if meta.ood_level != "none" and not n_ood:
        problems.append(f"ood_level is {meta.ood_level!r} but test_ood is empty")
    return problems


def _check_patients(splits: dict[str, SplitData]) -> list[str]:
    patients = {s: np.unique(_strings(d.patient_ids)) for s, d in splits.items()}
    problems = []
    for other in ("train", "val", "test_id"):
        shared = np.intersect1d(patients["test_ood"], patients[other])
        if len(shared):
            problems.append(f"test_ood patients also in {other}: {examples(shared, 'patient')}")
    unseen = np.setdiff1d(patients["test_id"], patients["train"])
    if len(unseen):
        problems.append(f"test_id patients not in train: {examples(unseen, 'patient')}")
    return problems


def _check_unique_ids(splits: dict[str, SplitData]) -> list[str]:
    ids = np.concatenate([_strings(d.image_ids) for d in splits.values()])
    values, counts = np.unique(ids, return_counts=True)
    repeated = values[counts > 1]
    return [f"image ids repeated: {examples(repeated, 'id')}"] if len(repeated) else []


def image_digests(images: np.ndarray) -> np.ndarray:
    """A content hash per image (row), as fixed-width bytes so numpy can compare them in bulk."""
    digests = [hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=16).digest()
               for img in images]
    return np.array(digests, dtype="S16") if digests else np.zeros(0, dtype="S16")


def _check_duplicate_images(splits: dict[str, SplitData]) -> list[str]:
    names = [s for s, d in splits.items() if d.images is not None]
    digests = {s: image_digests(splits[s].images) for s in names}  # type: ignore[arg-type]
    problems = []
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            common = np.intersect1d(digests[first], digests[second])
            if len(common):
                ids = _strings(splits[second].image_ids)[np.isin(digests[second], common)]
                problems.append(f"identical images in {first} and {second}: "
                                f"{second} {examples(ids, 'image')}")
    return problems


def check_split_rules(meta: TaskMeta, splits: dict[str, SplitData]) -> list[str]:
    """Every violated split rule as a message; an empty list means the task is sound."""
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        return [f"missing split(s): {', '.join(missing)}"]
    problems: list[str] = []
    shapes_ok = True
    for split in SPLITS:
        data = splits[split]
        found = _check_lengths(split, data) + _check_ids(split, np.asarray(data.image_ids))
        if data.images is not None:
            found += _check_images(meta, split, np.asarray(data.images))
        if data.labels is not None:
            found += _check_labels(meta, split, np.asarray(data.labels))
        if data.patient_ids is not None and np.asarray(data.patient_ids).dtype == object:
            found.append(f"{split}: patient_ids must not be an object array")
        shapes_ok = shapes_ok and not found
        problems += found
    problems += _check_counts(meta, splits)
    problems += _check_unique_ids(splits)
    if meta.ood_level == "patient":
        problems += _check_patients(splits)
    if shapes_ok:
        problems += _check_duplicate_images(splits)
    return problems


def check_protocol_1k(splits: dict[str, SplitData], protocol: dict[str, np.ndarray]) -> list[str]:
    problems = []
    for name, split in (("train800", "train"), ("val200", "val")):
        idx = np.asarray(protocol.get(name, np.zeros(0, np.int64)))
        n = len(splits[split])
        want = min(PROTOCOL_1K_SIZES[name], n)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            problems.append(f"protocol 1k/{name}: must be a 1-D integer array")
            continue
        if len(idx) != want:
            problems.append(f"protocol 1k/{name}: {len(idx)} indices, expected {want}")
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            problems.append(f"protocol 1k/{name}: indices outside {split} (0..{n - 1})")
        if len(np.unique(idx)) != len(idx):
            problems.append(f"protocol 1k/{name}: repeated indices")
    return problems


def _check_public_tree(meta: TaskMeta, root: Path) -> list[str]:
    """Hidden arrays must never sit in the public tree, whatever wrote the bundle."""
    public = task_dir(root, "public", meta.benchmark, meta.slug)
    leaked = [f"{s}/{a}.npy" for s in TEST_SPLITS for a in ("labels", "patient_ids")
              if (public / s / f"{a}.npy").exists()]
    if not meta.test_images_public:
        leaked += [f"{s}/{a}.npy" for s in TEST_SPLITS for a in ("images", "image_ids")
                   if (public / s / f"{a}.npy").exists()]
    return [f"hidden array in the public tree: {p}" for p in leaked]


def validate_task(
    root: Path | str, benchmark: str, task: str, *, require_protocol: bool = True
) -> None:
    """Load a whole task (hidden tree too) and raise ``BundleError`` listing every violation.

    The ``1k`` protocol is checked when present and, with ``require_protocol``, required.
    """
    root = Path(root)
    meta = read_meta(root, benchmark, task)
    where = f"{benchmark}/{task}"
    try:
        splits = {s: load_split(root, meta, s, hidden=True) for s in SPLITS}
    except BundleError as exc:
        raise BundleError(f"{where}: {exc}") from None
    problems = _check_public_tree(meta, root) + check_split_rules(meta, splits)
    for split, data in splits.items():
        recorded = meta.splits.get(split)
        actual = split_counts(data)
        if recorded != actual:
            problems.append(f"task.json splits.{split} says {recorded}, arrays give {actual}")
    protocol_dir = task_dir(root, "public", benchmark, task) / "protocols" / "1k"
    try:
        protocol = load_protocol(root, meta, "1k")
    except BundleError as exc:
        if require_protocol or protocol_dir.exists():
            problems.append(f"protocol 1k: {exc}")
    else:
        assert protocol is not None
        problems += check_protocol_1k(splits, protocol)
    if problems:
        raise BundleError(f"{where}: " + "; ".join(problems))
