"""Turn a checkpoint archive into a predictions submission for the public test images.

    python -m reference_models.predict --checkpoint checkpoint.zip --npz TASK.npz [--npz ...] \
        --out predictions.zip
    python -m reference_models.predict --checkpoint checkpoint.zip --data-root DIR --out predictions.zip

The test images come from the task downloads (``--npz``, the files a participant has) or from a
bundle's public tree (``--data-root``). Writes one ``<task>.csv`` per task of the checkpoint whose
test images are public (header ``image_id,<class names>``, one row per ``test_id`` and ``test_ood``
image). Tasks with hidden test images accept checkpoints only and are skipped with a note, as are
checkpoint tasks without a ``--npz`` file.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from datasets.bundle import TEST_SPLITS, BundleError
from datasets.export import PublicTask
from reference_models.archive import check_checkpoint_archive
from reference_models.inference import load_task_model, predict_probs
from reference_models.manifest import Manifest
from reference_models.specs import CheckpointInvalid
from reference_models.taskdata import bundle_tasks, npz_tasks
from reference_models.training import pick_device


def predictions_csv(image_ids: Sequence[str], probs: np.ndarray, classes: Sequence[str]) -> str:
    buf = io.StringIO()
    buf.write(",".join(["image_id", *classes]) + "\n")
    for image_id, row in zip(image_ids, probs, strict=True):
        buf.write(str(image_id) + "," + ",".join(f"{v:.6f}" for v in row) + "\n")
    return buf.getvalue()


def predict_task(
    archive: Path, manifest: Manifest, task: PublicTask, *, device: str, batch_size: int
) -> str:
    meta = task.meta
    model = load_task_model(archive, manifest, meta, device=device)
    ids: list[str] = []
    probs: list[np.ndarray] = []
    for split in TEST_SPLITS:
        data = task.split(split)
        assert data.images is not None
        ids.extend(str(i) for i in data.image_ids)
        probs.append(predict_probs(model, data.images, label_type=meta.label_type,
                                   batch_size=batch_size, device=device))
    return predictions_csv(ids, np.concatenate(probs), meta.classes)


def write_predictions(
    checkpoint: Path | str, data_root: Path | str, out: Path | str, *,
    device: str | None = None, batch_size: int = 128,
) -> list[str]:
    """Write the predictions zip from a bundle's public tree; returns the task slugs written."""
    manifest = check_checkpoint_archive(checkpoint)
    tasks = bundle_tasks(data_root, manifest.benchmark, list(manifest.tasks))
    return write_task_predictions(checkpoint, manifest, {t.meta.slug: t for t in tasks}, out,
                                  device=device, batch_size=batch_size)


def write_predictions_npz(
    checkpoint: Path | str, npz: Sequence[Path | str], out: Path | str, *,
    device: str | None = None, batch_size: int = 128,
) -> list[str]:
    """Write the predictions zip from task downloads; returns the task slugs written."""
    manifest = check_checkpoint_archive(checkpoint)
    tasks = {t.meta.slug: t for t in npz_tasks(npz)}
    for task in tasks.values():
        if task.meta.benchmark != manifest.benchmark:
            raise BundleError(f"task {task.meta.slug!r} belongs to benchmark "
                              f"{task.meta.benchmark!r}; the checkpoint is for {manifest.benchmark!r}")
        if task.meta.slug not in manifest.tasks:
            print(f"{task.meta.slug}: not in the checkpoint; ignored", file=sys.stderr)
    return write_task_predictions(checkpoint, manifest, tasks, out, device=device,
                                  batch_size=batch_size)


def write_task_predictions(
    checkpoint: Path | str, manifest: Manifest, tasks: Mapping[str, PublicTask], out: Path | str,
    *, device: str | None = None, batch_size: int = 128,
) -> list[str]:
    """Predict every checkpoint task found in ``tasks`` (by slug) into one predictions zip; when
    none has public test images, nothing is written."""
    checkpoint, out = Path(checkpoint), Path(out)
    chosen = str(pick_device(device))
    written: list[str] = []
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for slug, entry in manifest.tasks.items():
            task = tasks.get(slug)
            if task is None:
                print(f"{slug}: no test images given (--npz); left out", file=sys.stderr)
                continue
            if not task.meta.test_images_public:
                print(f"{slug}: test images are hidden; submit the checkpoint instead",
                      file=sys.stderr)
                continue
            if task.meta.version != entry.task_version:
                print(f"{slug}: warning: trained on version {entry.task_version}, data is "
                      f"version {task.meta.version}", file=sys.stderr)
            zf.writestr(f"{slug}.csv", predict_task(checkpoint, manifest, task, device=chosen,
                                                    batch_size=batch_size))
            written.append(slug)
    if written:
        tmp.replace(out)
    else:
        tmp.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a predictions submission from a checkpoint.")
    parser.add_argument("--checkpoint", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--npz", action="append", metavar="FILE",
                        help="a task's download (.npz); repeat for several tasks")
    source.add_argument("--data-root", help="data root holding public/<benchmark>/")
    parser.add_argument("--out", required=True, help="predictions archive to write (.zip)")
    parser.add_argument("--device")
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args(argv)
    write = write_predictions_npz if args.npz else write_predictions
    try:
        written = write(args.checkpoint, args.npz or args.data_root, args.out, device=args.device,
                        batch_size=args.batch_size)
    except (BundleError, CheckpointInvalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not written:
        print("error: no task of this checkpoint has public test images in the data given",
              file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(written)} task(s): {', '.join(written)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
