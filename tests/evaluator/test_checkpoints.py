"""Checkpoint-track evaluation on tiny backbones: strict load, inference, scoring, warm cache."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evaluator.checkpoints import (  # noqa: E402
    PREFETCH_THREAD,
    BackboneCache,
    evaluate_checkpoint_archive,
    predict,
    resolve_device,
)
from evaluator.errors import SubmissionInvalid  # noqa: E402
from evaluator.scoring import score_predictions_file  # noqa: E402
from tests.reference_models.conftest import BENCH, make_task, tiny_backbones  # noqa: E402, F401

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def ckpt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ckpt-data")
    make_task(root, "tiny-gray", channels=1, size=24)
    make_task(root, "tiny-rgb", channels=3, size=32, classes=2, seed=1, public_test=False)
    return root


@pytest.fixture(scope="module")
def archive(
    ckpt_root: Path, tiny_backbones: dict, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from reference_models.train import train_checkpoint

    out = tmp_path_factory.mktemp("ckpt") / "adapter.zip"
    train_checkpoint(
        ckpt_root,
        BENCH,
        ["tiny-gray"],
        "adapter",
        out=out,
        backbones={"backbone": tiny_backbones["general"].id},
        epochs=1,
        progress=False,
    )
    return out


def test_checkpoint_scores_equal_the_predictions_track(
    archive: Path, ckpt_root: Path, tmp_path: Path
) -> None:
    from reference_models.predict import write_predictions

    cache = BackboneCache(1 << 30)
    score, report = evaluate_checkpoint_archive(
        ckpt_root, BENCH, archive, device=CPU, cache=cache, bootstrap=50
    )
    preds = tmp_path / "preds.zip"
    assert write_predictions(archive, ckpt_root, preds, device="cpu") == ["tiny-gray"]
    via_csv = score_predictions_file(ckpt_root, BENCH, preds, bootstrap=50)
    for split in ("test_id", "test_ood"):
        ours = score.json["tasks"]["tiny-gray"][split]
        theirs = via_csv.json["tasks"]["tiny-gray"][split]
        assert ours["accuracy"]["value"] == theirs["accuracy"]["value"]
        # The predictions file holds 6 decimals; AUROC can only move on ties made by rounding.
        assert ours["auroc"]["value"] == pytest.approx(theirs["auroc"]["value"], abs=1e-3)
    assert report.verified_tunable_params == report.tensor_elements
    assert report.stats.images == 24 and report.stats.images_per_second > 0
    # tiny-rgb takes checkpoints only: overall averages tiny-gray alone, all_tasks misses one
    assert score.json["overall"]["complete"] is True
    assert score.json["all_tasks"]["complete"] is False


def test_second_submission_loads_only_the_adapter(archive: Path, ckpt_root: Path) -> None:
    cache = BackboneCache(1 << 30)
    evaluate_checkpoint_archive(ckpt_root, BENCH, archive, device=CPU, cache=cache, bootstrap=0)
    assert (cache.hits, cache.misses) == (0, 1)
    evaluate_checkpoint_archive(ckpt_root, BENCH, archive, device=CPU, cache=cache, bootstrap=0)
    assert (cache.hits, cache.misses) == (1, 1)


def test_cache_is_bounded(archive: Path, ckpt_root: Path, tiny_backbones: dict) -> None:
    cache = BackboneCache(1)  # smaller than any backbone: keeps only the latest one
    cache.get(tiny_backbones["general"].id, CPU)
    cache.get(tiny_backbones["medical"].id, CPU)
    assert len(cache._items) == 1


def test_hidden_test_images_are_read_from_the_hidden_tree(
    ckpt_root: Path,
    tiny_backbones: dict,
    tmp_path: Path,
) -> None:
    from reference_models.train import train_checkpoint

    out = tmp_path / "rgb.zip"
    train_checkpoint(
        ckpt_root,
        BENCH,
        ["tiny-rgb"],
        "linear",
        out=out,
        backbones={"backbone": tiny_backbones["general"].id},
        epochs=1,
        progress=False,
    )
    score, report = evaluate_checkpoint_archive(
        ckpt_root, BENCH, out, device=CPU, cache=BackboneCache(1 << 30), bootstrap=20
    )
    assert score.json["tasks"]["tiny-rgb"]["test_id"]["auroc"]["value"] is not None
    assert report.stats.images == 24


def _rewrite(archive: Path, out: Path, edit: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in edit:
                if edit[info.filename] is not None:
                    dst.writestr(info.filename, edit[info.filename])
                continue
            dst.writestr(info, src.read(info))
        for name, data in edit.items():
            if name not in src.namelist() and data is not None:
                dst.writestr(name, data)
    return out


def test_pickle_member_fails_with_a_message_and_runs_nothing(
    archive: Path, ckpt_root: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, (f"touch {marker}",))

    buffer = io.BytesIO()
    torch.save({"x": Payload()}, buffer)
    bad = _rewrite(archive, tmp_path / "bad.zip", {"extra.pt": buffer.getvalue()})
    with pytest.raises(SubmissionInvalid, match=r"extra\.pt"):
        evaluate_checkpoint_archive(
            ckpt_root, BENCH, bad, device=CPU, cache=BackboneCache(1 << 30), bootstrap=0
        )
    assert not marker.exists()


def test_wrong_shape_names_the_tensor(archive: Path, ckpt_root: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load as load_np
    from safetensors.numpy import save as save_np

    with zipfile.ZipFile(archive) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".safetensors"))
        tensors = load_np(zf.read(name))
    victim = sorted(tensors)[0]
    tensors[victim] = np.zeros(
        (*tensors[victim].shape[:-1], tensors[victim].shape[-1] + 1), dtype=tensors[victim].dtype
    )
    bad = _rewrite(archive, tmp_path / "shape.zip", {name: save_np(tensors)})
    with pytest.raises(SubmissionInvalid, match=re.escape(victim.split(".")[0])):
        evaluate_checkpoint_archive(
            ckpt_root, BENCH, bad, device=CPU, cache=BackboneCache(1 << 30), bootstrap=0
        )


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def test_no_memory_growth_over_fifty_evaluations(archive: Path, ckpt_root: Path) -> None:
    cache = BackboneCache(1 << 30)
    for _ in range(10):  # warm-up: allocator pools, caches, lazy imports
        evaluate_checkpoint_archive(ckpt_root, BENCH, archive, device=CPU, cache=cache, bootstrap=5)
    before = _rss_bytes()
    for _ in range(50):
        evaluate_checkpoint_archive(ckpt_root, BENCH, archive, device=CPU, cache=cache, bootstrap=5)
    growth = _rss_bytes() - before
    assert growth < 30 * 1024**2, f"resident memory grew by {growth / 1024**2:.1f} MiB"


def test_device_setting() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="MEDVTAB_DEVICE"):
        resolve_device("tpu")


class FlakyImages:
    """A hidden split whose reads start failing part-way (a disk error in the reader thread)."""

    def __init__(self, images: np.ndarray, fail_from: int) -> None:
        self.images, self.fail_from = images, fail_from

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: slice) -> np.ndarray:
        if key.start >= self.fail_from:
            raise OSError("read error on the hidden split")
        return self.images[key]


class Refuses(torch.nn.Module):
    """A model whose forward fails, like a kernel missing on the device."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("no kernel for this device")


def _predict_in_thread(model: torch.nn.Module, images: Any) -> BaseException | None:
    """Run predict() where a hang shows up as a failed test, not a stuck run."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            predict(model, images, label_type="multiclass", device=CPU, batch_size=4, input_size=8)
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "predict() is blocked"
    return caught[0] if caught else None


def _new_readers(before: list[threading.Thread]) -> Callable[[], list[threading.Thread]]:
    return lambda: [
        t for t in threading.enumerate() if t.name == PREFETCH_THREAD and t not in before
    ]


def test_a_read_error_in_the_prefetch_thread_reaches_predict() -> None:
    readers = _new_readers(threading.enumerate())
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    images = FlakyImages(np.zeros((40, 8, 8, 1), np.uint8), fail_from=16)
    error = _predict_in_thread(model, images)
    assert isinstance(error, OSError) and "read error on the hidden split" in str(error)
    assert readers() == []


def test_an_error_in_the_model_stops_the_prefetch_thread() -> None:
    readers = _new_readers(threading.enumerate())
    images = np.zeros((400, 8, 8, 1), np.uint8)  # far more batches than the queue holds
    error = _predict_in_thread(Refuses(), images)
    assert isinstance(error, NotImplementedError) and "no kernel" in str(error)
    assert readers() == []  # not left blocked on a full queue, holding its buffers
