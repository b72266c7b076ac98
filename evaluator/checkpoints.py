"""Checkpoint-track evaluation: rebuild the model from the server's registries, load it strictly,
run inference on every hidden test split and score through the predictions track's code.

torch is imported here, so only the GPU worker (and tests) import this module; the web tier uses
the torch-free checks in ``reference_models.archive``.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import os
import queue
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from datasets.bundle import TEST_SPLITS, TaskMeta, list_tasks, load_split
from evaluator.errors import SubmissionInvalid
from evaluator.scoring import ScoreResult, score_probabilities
from reference_models.archive import check_checkpoint_archive
from reference_models.backbones import expected_sha256, load_backbone
from reference_models.inference import load_task_model, to_model_input
from reference_models.manifest import Manifest
from reference_models.methods import count_tunable
from reference_models.specs import CheckpointInvalid, get_backbone_spec


def resolve_device(setting: str | None) -> torch.device:
    """``auto`` → the first CUDA device when present, else CPU; ``cpu``; ``cuda`` or ``cuda:N``."""
    value = (setting or "auto").strip().lower()
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if value == "cpu" or value.startswith("cuda"):
        device = torch.device(value)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"MEDVTAB_DEVICE={setting!r} but CUDA is not available here")
        return device
    raise ValueError(f"MEDVTAB_DEVICE={setting!r} must be auto, cpu, cuda or cuda:N")


def use_worker_cores() -> int:
    """On CPU, use the cores this process may run on (a container's or taskset's share)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(int(cores or 1), 1))
    return torch.get_num_threads()


def _module_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


class BackboneCache:
    """Frozen backbones kept warm in the worker, keyed by (id, weights sha256, device) and bounded
    by a memory budget (least recently used evicted first)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: collections.OrderedDict[tuple[str, str, str], nn.Module] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, backbone_id: str, device: torch.device) -> nn.Module:
        spec = get_backbone_spec(backbone_id)
        key = (spec.id, expected_sha256(spec), str(device))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        module = load_backbone(spec, device=device, cache=False)  # verifies the sha256
        with self._lock:
            self.misses += 1
            self._items[key] = module
            self._evict()
        return module

    def roles(self, backbones: Mapping[str, str], device: torch.device) -> dict[str, nn.Module]:
        return {role: self.get(bid, device) for role, bid in backbones.items()}

    def _evict(self) -> None:
        while len(self._items) > 1 and self.total_bytes() > self.max_bytes:
            self._items.popitem(last=False)

    def total_bytes(self) -> int:
        return sum(_module_bytes(m) for m in self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class InferenceStats:
    images: int = 0
    seconds: float = 0.0
    per_task: dict[str, float] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def batch_size_for(device: torch.device, image_size: int, requested: int | None = None) -> int:
    if requested:
        return requested
    if device.type != "cuda":
        return 256
    free, _ = torch.cuda.mem_get_info(device)
    # ViT activations grow with tokens; ~4 MB per 224-px image in bf16 leaves ample headroom.
    per_image = 4 * 1024**2 * (image_size / 224) ** 2
    return int(max(32, min(1024, free * 0.5 // per_image)))


PREFETCH_THREAD = "medvtab-prefetch"
_Item = torch.Tensor | BaseException | None  # a batch, the reader's error, or the end


def _host_batch(images: np.ndarray, start: int, batch_size: int) -> torch.Tensor:
    return torch.from_numpy(np.array(images[start : start + batch_size]))


def _offer(ready: queue.Queue[_Item], item: _Item, stop: threading.Event) -> bool:
    """Put unless the consumer has stopped: a bounded wait, so a full queue never blocks forever."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _read_ahead(
    images: np.ndarray, batch_size: int, pin: bool, ready: queue.Queue[_Item], stop: threading.Event
) -> None:
    item: _Item = None
    try:
        for start in range(0, len(images), batch_size):
            host = _host_batch(images, start, batch_size)
            if not _offer(ready, host.pin_memory() if pin else host, stop):
                return
    except BaseException as exc:  # whatever it is, the consumer must hear of it, not wait on
        item = exc
    _offer(ready, item, stop)


def prefetch_batches(
    images: np.ndarray, batch_size: int, device: torch.device, *, pin: bool
) -> Generator[torch.Tensor, None, None]:
    """uint8 batches on the device, read (and pinned, for CUDA) by a thread one batch ahead.

    A read error is re-raised here; closing the generator (an error in the consumer) stops the
    thread and drops the buffers it had queued."""
    ready: queue.Queue[_Item] = queue.Queue(maxsize=2)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read_ahead,
        args=(images, batch_size, pin, ready, stop),
        name=PREFETCH_THREAD,
        daemon=True,
    )
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item.to(device, non_blocking=pin)
    finally:
        stop.set()
        reader.join()
        while not ready.empty():
            ready.get_nowait()


def predict(
    model: nn.Module,
    images: np.ndarray,
    *,
    label_type: str,
    device: torch.device,
    batch_size: int,
    input_size: int,
) -> np.ndarray:
    cuda = device.type == "cuda"
    out: list[torch.Tensor] = []
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda),
        # closing(): an error in the model stops the reader thread too, not only this loop
        contextlib.closing(prefetch_batches(images, batch_size, device, pin=cuda)) as batches,
    ):
        for batch in batches:
            logits = model(to_model_input(batch, input_size, channels_last=cuda)).float()
            out.append(torch.sigmoid(logits) if label_type == "multilabel" else logits.softmax(-1))
    if not out:
        return np.zeros((0, 0))
    return torch.cat(out).double().cpu().numpy()


@dataclass
class CheckpointReport:
    manifest: Manifest
    verified_tunable_params: int
    tensor_elements: int
    device: str
    stats: InferenceStats


def _header_elements(manifest: Manifest) -> int:
    return sum(
        int(np.prod(shape)) for header in manifest.headers.values() for _, shape in header.values()
    )


def infer_checkpoint(
    data_root: Path | str,
    benchmark: str,
    archive: Path | str,
    *,
    device: torch.device,
    cache: BackboneCache,
    batch_size: int | None = None,
    compile_model: bool = False,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], CheckpointReport]:
    """Every probability of every test image of every task in the archive, in memory."""
    metas = {m.slug: m for m in list_tasks(data_root, benchmark)}
    manifest = check_checkpoint_archive(
        archive, known_tasks={s: m.version for s, m in metas.items()}
    )
    if manifest.benchmark != benchmark:
        raise CheckpointInvalid(
            f"the manifest names benchmark {manifest.benchmark!r}, not {benchmark!r}"
        )
    stats = InferenceStats()
    probs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    counts: list[int] = []
    backbones = cache.roles(manifest.backbones, device)
    for slug in manifest.tasks:
        meta: TaskMeta = metas[slug]
        model = load_task_model(archive, manifest, meta, device=device, backbones=backbones)
        counts.append(count_tunable(model))
        runner: Any = torch.compile(model) if compile_model else model
        size = batch_size_for(device, model.input_size, batch_size)
        ids, outs = [], []
        for split in TEST_SPLITS:
            data = load_split(data_root, meta, split, hidden=True)
            assert data.images is not None
            start = time.perf_counter()
            outs.append(
                predict(
                    runner,
                    data.images,
                    label_type=meta.label_type,
                    device=device,
                    batch_size=size,
                    input_size=model.input_size,
                )
            )
            elapsed = time.perf_counter() - start
            stats.seconds += elapsed
            stats.per_task[slug] = stats.per_task.get(slug, 0.0) + elapsed
            stats.images += len(data)
            ids.append(np.asarray(data.image_ids))
        probs[slug] = (
            np.concatenate(ids),
            np.concatenate([o for o in outs if o.size] or [np.zeros((0, meta.num_classes))]),
        )
        del model, runner
    report = CheckpointReport(
        manifest=manifest,
        verified_tunable_params=round(sum(counts) / max(len(counts), 1)),
        tensor_elements=_header_elements(manifest),
        device=str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        stats=stats,
    )
    release(device)
    return probs, report


def release(device: torch.device) -> None:
    """Give memory back between submissions (the cached backbones stay)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def evaluate_checkpoint_archive(
    data_root: Path | str,
    benchmark: str,
    archive: Path | str,
    *,
    device: torch.device,
    cache: BackboneCache,
    bootstrap: int = 1000,
    seed: int = 0,
    batch_size: int | None = None,
    compile_model: bool = False,
) -> tuple[ScoreResult, CheckpointReport]:
    """Infer and score; user-facing problems raise :class:`SubmissionInvalid`."""
    try:
        probs, report = infer_checkpoint(
            data_root,
            benchmark,
            archive,
            device=device,
            cache=cache,
            batch_size=batch_size,
            compile_model=compile_model,
        )
    except CheckpointInvalid as exc:
        raise SubmissionInvalid(str(exc)) from None
    return score_probabilities(data_root, benchmark, probs, bootstrap=bootstrap, seed=seed), report
