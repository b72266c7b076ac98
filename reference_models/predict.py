"""Turn a checkpoint archive into a predictions submission for the public test images.

    python -m reference_models.predict --checkpoint checkpoint.zip --data-root DIR --out predictions.zip

Writes one ``<task>.csv`` per task whose test images are public (header ``image_id,<class names>``,
one row per ``test_id`` and ``test_ood`` image). Tasks with hidden test images accept checkpoints only
and are skipped with a note.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from datasets.bundle import TEST_SPLITS, TaskMeta, load_split, read_meta
from reference_models.archive import check_checkpoint_archive
from reference_models.inference import load_task_model, predict_probs
from reference_models.manifest import Manifest
from reference_models.specs import CheckpointInvalid
from reference_models.training import pick_device


def predictions_csv(image_ids: Sequence[str], probs: np.ndarray, classes: Sequence[str]) -> str:
    buf = io.StringIO()
    buf.write(",".join(["image_id", *classes]) + "\n")
    for image_id, row in zip(image_ids, probs, strict=True):
        buf.write(str(image_id) + "," + ",".join(f"{v:.6f}" for v in row) + "\n")
    return buf.getvalue()


def predict_task(
    archive: Path, manifest: Manifest, meta: TaskMeta, root: Path, *, device: str, batch_size: int
) -> str:
    model = load_task_model(archive, manifest, meta, device=device)
    ids: list[str] = []
    probs: list[np.ndarray] = []
    for split in TEST_SPLITS:
        data = load_split(root, meta, split)
        assert data.images is not None
        ids.extend(str(i) for i in data.image_ids)
        probs.append(predict_probs(model, data.images, label_type=meta.label_type,
                                   batch_size=batch_size, device=device))
    return predictions_csv(ids, np.concatenate(probs), meta.classes)


def write_predictions(
    checkpoint: Path | str, data_root: Path | str, out: Path | str, *,
    device: str | None = None, batch_size: int = 128,
) -> list[str]:
    """Write the predictions zip; returns the task slugs written."""
    checkpoint, root, out = Path(checkpoint), Path(data_root), Path(out)
    manifest = check_checkpoint_archive(checkpoint)
    chosen = str(pick_device(device))
    written: list[str] = []
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for slug, entry in manifest.tasks.items():
            meta: TaskMeta = read_meta(root, manifest.benchmark, slug)
            if not meta.test_images_public:
                print(f"{slug}: test images are hidden; submit the checkpoint instead",
                      file=sys.stderr)
                continue
            if meta.version != entry.task_version:
                print(f"{slug}: warning: trained on version {entry.task_version}, data is "
                      f"version {meta.version}", file=sys.stderr)
            csv = predict_task(checkpoint, manifest, meta, root, device=chosen,
                               batch_size=batch_size)
            zf.writestr(f"{slug}.csv", csv)
            written.append(slug)
    tmp.replace(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a predictions submission from a checkpoint.")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", required=True, help="predictions archive to write (.zip)")
    parser.add_argument("--device")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    try:
        written = write_predictions(args.checkpoint, args.data_root, args.out, device=args.device,
                                    batch_size=args.batch_size)
    except CheckpointInvalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not written:
        print("error: no task in this checkpoint has public test images", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(written)} task(s): {', '.join(written)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
