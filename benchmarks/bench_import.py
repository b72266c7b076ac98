"""Scale figures for hosting the real benchmark at 224 px (docs/performance.md, "Full scale").

Stand-in files have exactly MedMNIST+'s structure: keys ``{train,val,test}_{images,labels}``,
uint8 images N x 224 x 224 x 3, labels N x 1 (PathMNIST's split sizes, 107,180 images, by default).

(1) ``import_medmnist`` of a stored (uncompressed) ``.npz``: time, images/s, peak RSS and peak
    RssAnon of the import process; reference in the same run: raw ``np.load`` + ``np.save`` of every
    key of a smaller file (the old whole-array path, memory ~ the file);
(1b) the same import from a deflate-compressed ``.npz`` (smaller N);
(2) ``import_manifest`` of 256-px PNG/JPEG files resized to 224 px (2 decode workers); reference:
    the same decode + resize in one loop;
(3) scoring a 300,000-image test split (one pseudo-patient per image, as MedMNIST files have) with
    the 1,000-replicate bootstrap through ``evaluator.scoring.score_probabilities``;
(4) CPU checkpoint evaluation streaming 224-px images from the memory map at two N (the worker's
    ``infer_checkpoint``, workload of benchmarks/bench_checkpoint_eval.py): images/s, peak RSS;
(5) the full 1.68M-image benchmark extrapolated from the measured per-image costs.

Every measurement runs in a child process pinned with ``taskset`` (one CPU for single-process
work, both for the pooled and torch parts) and sampled every 50 ms from /proc/<pid>/status, summed
over the child and its own children (the decode pool); the load average is recorded with each
figure. All stand-ins and bundles live in one temporary folder
that is removed at the end, also on failure or Ctrl-C; the free disk is checked first.

    python benchmarks/bench_import.py [--images 107180] [--workdir /tmp] [--json out.json]
    python benchmarks/bench_import.py --quick     # small sizes, a minute, to check it runs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PATHMNIST = {"train": 89_996, "val": 10_004, "test": 7_180}
SIZE, CHANNELS, CLASSES = 224, 3, 9
FULL_BENCHMARK_IMAGES = 1_680_000
CHUNK_BYTES = 64 << 20


# --- stand-in files ------------------------------------------------------------------------------


def _bases(rng: np.random.Generator, size: int, channels: int, n: int = 64) -> np.ndarray:
    """Smooth random images (upsampled 14 x 14 noise plus grain), so deflate has real work."""
    low = rng.integers(0, 256, (n, 14, 14, channels), dtype=np.uint8)
    up = np.repeat(np.repeat(low, size // 14 + 1, axis=1), size // 14 + 1, axis=2)[:, :size, :size]
    grain = rng.integers(0, 12, up.shape, dtype=np.uint8)
    return (up // 2 + grain).astype(np.uint8)


def _image_rows(start: int, count: int, bases: np.ndarray) -> np.ndarray:
    """Images ``start..start+count``: a base image with the image's index stamped into its first
    bytes, so no two images are identical (the split rules refuse duplicates)."""
    rows = bases[np.arange(start, start + count) % len(bases)].copy()
    flat = rows.reshape(count, -1)
    flat[:, :8] = np.arange(start, start + count, dtype="<u8").view(np.uint8).reshape(count, 8)
    return rows


def write_medmnist_npz(
    path: Path, counts: dict[str, int], *, size: int = SIZE, channels: int = CHANNELS,
    compress: bool = False, seed: int = 0,
) -> int:
    """Stream a MedMNIST+-shaped .npz to disk chunk by chunk (never a whole array in memory)."""
    rng = np.random.default_rng(seed)
    bases = _bases(rng, size, channels)
    per_chunk = max(1, CHUNK_BYTES // (size * size * channels))
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    offset = 0
    with zipfile.ZipFile(path, "w", compression=method, compresslevel=6 if compress else None,
                         allowZip64=True) as archive:
        for split, n in counts.items():
            shape = (n, size, size, channels)
            with archive.open(f"{split}_images.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(
                    member, {"descr": "|u1", "fortran_order": False, "shape": shape})
                for start in range(0, n, per_chunk):
                    count = min(per_chunk, n - start)
                    member.write(_image_rows(offset + start, count, bases).tobytes())
            offset += n
            labels = rng.integers(0, CLASSES, (n, 1), dtype=np.uint8)
            with archive.open(f"{split}_labels.npy", "w") as member:
                np.lib.format.write_array(member, labels)
    return offset


def _stamp_tiles(pixels: np.ndarray, index: int, tile: int = 16, digits: int = 6) -> None:
    """Write ``index`` in base 16 as grey tiles 16 levels apart along the top edge: unlike a byte
    stamp, it survives JPEG and the resize to 224 px, so no two imported images are identical."""
    for d in range(digits):
        pixels[:tile, d * tile:(d + 1) * tile] = 16 * ((index >> (4 * d)) & 15) + 8


def write_manifest_files(folder: Path, n: int, *, size: int = 256, seed: int = 0) -> Path:
    """``n`` colour images (half PNG, half JPEG) and a manifest with patient ids (4 per patient)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    bases = _bases(rng, size, 3)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    lines = ["path,label,patient_id"]
    for start in range(0, n, 256):
        rows = _image_rows(start, min(256, n - start), bases)
        for i, pixels in enumerate(rows, start=start):
            _stamp_tiles(pixels, i)
            name = f"img/{i:07d}.{'png' if i % 2 else 'jpg'}"
            Image.fromarray(pixels).save(folder / name, quality=90)
            lines.append(f"{name},{i % CLASSES},P{i // 4:06d}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


# --- children: each prints one JSON line --------------------------------------------------------


def child_import_npz(npz: str, root: str, chunk: int) -> dict[str, Any]:
    from datasets.importers.medmnist import import_medmnist

    start = time.perf_counter()
    meta = import_medmnist(npz, root, benchmark="bench-import", slug="path-224", preset="pathmnist",
                           ood_from_test=True, drop_duplicates=True, chunk_images=chunk)
    return {"seconds": time.perf_counter() - start,
            "images": sum(c.n_images for c in meta.splits.values())}


def child_raw_npz(npz: str, out: str) -> dict[str, Any]:
    """The whole-array reference: every key loaded into memory, then saved as .npy."""
    start = time.perf_counter()
    n = 0
    with np.load(npz, allow_pickle=False) as arrays:
        for key in arrays.files:
            array = arrays[key]
            n += len(array) if key.endswith("_images") else 0
            np.save(Path(out) / f"{key}.npy", array)
            del array
    return {"seconds": time.perf_counter() - start, "images": n}


def child_import_manifest(manifest: str, root: str, workers: int) -> dict[str, Any]:
    from datasets.importers.manifest import import_manifest

    start = time.perf_counter()
    meta = import_manifest(manifest, root, benchmark="bench-import", slug="manifest-224",
                           name="manifest", modality="colour", organ="", label_type="multiclass",
                           classes=[f"c{i}" for i in range(CLASSES)], image_size=SIZE, channels=3,
                           source="stand-in", license="CC0-1.0", citation="", workers=workers)
    return {"seconds": time.perf_counter() - start,
            "images": sum(c.n_images for c in meta.splits.values())}


def child_decode(manifest: str) -> dict[str, Any]:
    """Reference: decode, convert and resize every file in one loop (no pool, nothing written)."""
    from PIL import Image

    folder = Path(manifest).parent
    paths = [line.split(",")[0] for line in Path(manifest).read_text().splitlines()[1:]]
    start = time.perf_counter()
    for rel in paths:
        with Image.open(folder / rel) as image:
            np.asarray(image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS))
    return {"seconds": time.perf_counter() - start, "images": len(paths)}


def child_score(root: str, n: int) -> dict[str, Any]:
    from datasets.bundle import load_split, read_meta
    from evaluator.scoring import score_probabilities

    meta = read_meta(root, "bench-score", "score-300k")
    ids = load_split(root, meta, "test_id", hidden=True, images=False).image_ids
    probs = np.random.default_rng(1).dirichlet(np.ones(CLASSES), len(ids)).astype(np.float32)
    start = time.perf_counter()
    result = score_probabilities(root, "bench-score", {"score-300k": (ids, probs)},
                                 bootstrap=1000, seed=0)
    seconds = time.perf_counter() - start
    ci = result.json["tasks"]["score-300k"]["test_id"]["accuracy"]
    return {"seconds": seconds, "images": n, "accuracy": ci}


def child_checkpoint(root: str, archive: str) -> dict[str, Any]:
    import torch

    from evaluator.checkpoints import BackboneCache, infer_checkpoint

    cache = BackboneCache(1 << 34)
    start = time.perf_counter()
    _, report = infer_checkpoint(root, "bench-ckpt", archive, device=torch.device("cpu"),
                                 cache=cache, batch_size=256)
    return {"seconds": time.perf_counter() - start, "images": report.stats.images}


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "import_npz": child_import_npz, "raw_npz": child_raw_npz,
    "import_manifest": child_import_manifest, "decode": child_decode, "score": child_score,
    "checkpoint": child_checkpoint,
}


# --- the parent: run a child pinned, sample its memory ------------------------------------------


def _status_kb(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (decode pool workers count towards the import's memory)."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the process may just have exited
                queue += [int(c) for c in task.read_text().split()]
    return pids


def run_child(kind: str, *args: object, cpus: str, threads: int = 1) -> dict[str, Any]:
    """Run ``--child kind args`` under ``taskset -c cpus``; add peak RSS/RssAnon and load."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    cmd = ["taskset", "-c", cpus, sys.executable, __file__, "--child", kind, *map(str, args)]
    load = os.getloadavg()[0]
    # CPU time of the child and everything it waited for (pool workers): unlike wall time it does
    # not depend on what else the shared machine runs.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    peaks = {"VmRSS": 0, "RssAnon": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now = {"VmRSS": 0, "RssAnon": 0}
            for pid in _tree(proc.pid):
                for key, value in _status_kb(pid).items():
                    if key in now:
                        now[key] += value
            for key, value in now.items():
                peaks[key] = max(peaks[key], value)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, _ = proc.communicate()
    finally:
        done.set()
        if proc.poll() is None:
            proc.kill()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"child {kind} failed with exit status {proc.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = json.loads(out.strip().splitlines()[-1])
    result.update(peak_rss_mb=peaks["VmRSS"] / 1024, peak_rss_anon_mb=peaks["RssAnon"] / 1024,
                  load_avg=load, images_per_s=result["images"] / result["seconds"], cpus=cpus,
                  cpu_s=cpu_s, cpu_ms_per_image=1000 * cpu_s / result["images"])
    return result


def _print(label: str, r: dict[str, Any]) -> None:
    print(f"{label}: {r['images']:,} images in {r['seconds']:.1f} s = {r['images_per_s']:,.0f} "
          f"images/s, CPU {r['cpu_ms_per_image']:.2f} ms/image (child start included); "
          f"peak RSS {r['peak_rss_mb']:,.0f} MB, peak RssAnon "
          f"{r['peak_rss_anon_mb']:,.0f} MB (cpus {r['cpus']}, load {r['load_avg']:.2f})",
          flush=True)


def check_disk(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    print(f"disk: {free / 1e9:.1f} GB free under {folder}, this run needs about "
          f"{needed / 1e9:.1f} GB")
    if free < needed:
        raise SystemExit(f"not enough free disk under {folder}; use --workdir or --images")


def _counts(n: int) -> dict[str, int]:
    """PathMNIST's split proportions scaled to ``n`` images."""
    return {s: max(10, round(v * n / sum(PATHMNIST.values()))) for s, v in PATHMNIST.items()}


def _remove(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def bench_npz(work: Path, n_images: int, n_reference: int, n_compressed: int,
              chunk: int) -> dict[str, Any]:
    t = time.perf_counter()
    npz, data = work / "pathmnist_224.npz", work / "data"
    n = write_medmnist_npz(npz, _counts(n_images))
    out: dict[str, Any] = {"file_gb": npz.stat().st_size / 1e9}
    print(f"stand-in: {n:,} images, {out['file_gb']:.2f} GB in {time.perf_counter() - t:.0f} s",
          flush=True)
    out["import"] = run_child("import_npz", npz, data, chunk, cpus="1")
    _print("(1) import_medmnist, stored .npz", out["import"])
    out["bundle_gb"] = sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) / 1e9
    _remove(data, npz)
    ref, raw = work / "ref_224.npz", work / "raw"
    write_medmnist_npz(ref, _counts(n_reference), seed=1)
    raw.mkdir()
    out["raw_reference"] = run_child("raw_npz", ref, raw, cpus="1")
    _print("    reference: np.load + np.save of every key (smaller file)", out["raw_reference"])
    out["import_small"] = run_child("import_npz", ref, data, chunk, cpus="1")
    _print("    import_medmnist of that smaller file", out["import_small"])
    _remove(ref, raw, data)
    comp = work / "compressed_224.npz"
    n = write_medmnist_npz(comp, _counts(n_compressed), compress=True, seed=2)
    out["compressed_ratio"] = comp.stat().st_size / (n * SIZE * SIZE * CHANNELS)
    out["import_compressed"] = run_child("import_npz", comp, data, chunk, cpus="1")
    _print(f"(1b) import_medmnist, deflated .npz (size {out['compressed_ratio']:.2f} of raw)",
           out["import_compressed"])
    _remove(data, comp)
    return out


def bench_manifest(work: Path, n: int) -> dict[str, Any]:
    folder = work / "manifest"
    t = time.perf_counter()
    manifest = write_manifest_files(folder, n)
    print(f"stand-in: {n:,} PNG/JPEG files at 256 px in {time.perf_counter() - t:.0f} s",
          flush=True)
    out = {"import": run_child("import_manifest", manifest, work / "data-m", 2, cpus="0,1"),
           "decode_reference": run_child("decode", manifest, cpus="1")}
    _print("(2) import_manifest, 2 workers", out["import"])
    _print("    reference: decode + resize loop, one process", out["decode_reference"])
    _remove(folder, work / "data-m")
    return out


def _score_task(root: Path, n: int) -> None:
    from datasets.bundle import SplitData, TaskMeta, write_task

    rng = np.random.default_rng(0)

    def split(name: str, count: int) -> SplitData:
        ids = np.array([f"s-{name}-{i:07d}" for i in range(count)])
        return SplitData(images=np.zeros((count, 8, 8, 1), np.uint8), image_ids=ids,
                         labels=rng.integers(0, CLASSES, count), patient_ids=ids.copy())

    meta = TaskMeta(slug="score-300k", name="score", benchmark="bench-score", modality="colour",
                    organ="", label_type="multiclass",
                    classes=tuple(f"c{i}" for i in range(CLASSES)),
                    image_size=8, channels=1, primary_metric="accuracy", version="1",
                    source="bench", license="CC0-1.0", citation="", test_images_public=True,
                    ood_level="none", synthetic=True)
    write_task(root, meta, {"train": split("train", 50), "val": split("val", 20),
                            "test_id": split("test_id", n), "test_ood": split("test_ood", 0)})


def bench_score(work: Path, n: int) -> dict[str, Any]:
    root = work / "data-score"
    _score_task(root, n)
    out = run_child("score", root, n, cpus="1")
    _print("(3) score_probabilities, 1,000-replicate bootstrap", out)
    shutil.rmtree(root)
    return out


def bench_checkpoint(work: Path, sizes: list[int]) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_checkpoint_eval import make_checkpoint, make_task

    out: dict[str, Any] = {}
    archive = work / "gmoe.zip"
    make_checkpoint(archive, {"general": "demo-vit-general", "medical": "demo-vit-medical"}, "cpu")
    for n in sizes:
        root = work / f"data-ckpt-{n}"
        make_task(root, n, SIZE)
        out[str(n)] = run_child("checkpoint", root, archive, cpus="0,1", threads=2)
        _print(f"(4) infer_checkpoint, CPU, {n:,} test images at 224 px", out[str(n)])
        shutil.rmtree(root)
    return out


def extrapolate(res: dict[str, Any]) -> dict[str, Any]:
    """1.68M images: disk, import time and memory from the measured per-image costs."""
    from datasets.importers.presets import presets

    images = bytes_ = 0
    for _, preset in presets().items():
        n = sum(preset.n_samples.values())
        images += n
        bytes_ += n * SIZE * SIZE * preset.n_channels
    per_image = bytes_ / images  # the MedMNIST+ mix of grey and colour images
    n = FULL_BENCHMARK_IMAGES
    npz_rate = res["npz"]["import"]["images_per_s"]
    man_rate = res["manifest"]["import"]["images_per_s"]
    score = res["score"]
    ckpt = res["checkpoint"][max(res["checkpoint"], key=int)]
    test_images = 0.2 * n
    return {
        "bundle_gb_mixed": n * per_image / 1e9, "bundle_gb_all_colour": n * SIZE * SIZE * 3 / 1e9,
        "import_hours_npz": n / npz_rate / 3600, "import_hours_manifest": n / man_rate / 3600,
        "import_hours_npz_deflated": n / res["npz"]["import_compressed"]["images_per_s"] / 3600,
        # import_benchmark hashes each source once (SHA-256, about 0.6 GB/s here).
        "hash_hours_sources": n * per_image / 0.6e9 / 3600,
        "peak_rss_anon_mb_import": max(res["npz"]["import"]["peak_rss_anon_mb"],
                                       res["manifest"]["import"]["peak_rss_anon_mb"]),
        "score_s_per_test_image": score["seconds"] / score["images"],
        "score_all_test_splits_s": test_images * score["seconds"] / score["images"],
        "checkpoint_cpu_hours_all_test_images": test_images / ckpt["images_per_s"] / 3600,
        "assumed_test_fraction": 0.2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=sum(PATHMNIST.values()))
    parser.add_argument("--reference-images", type=int, default=10_000)
    parser.add_argument("--compressed-images", type=int, default=10_000)
    parser.add_argument("--manifest-images", type=int, default=4_000)
    parser.add_argument("--score-images", type=int, default=300_000)
    parser.add_argument("--checkpoint-images", default="2000,8000")
    parser.add_argument("--chunk-images", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--only", choices=("npz", "manifest", "score", "checkpoint"))
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it runs")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](*_child_args(args.child))), flush=True)
        return
    if args.quick:
        args.images, args.reference_images, args.compressed_images = 3000, 1000, 1000
        args.manifest_images, args.score_images, args.checkpoint_images = 300, 20_000, "256,512"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python "
          f"{platform.python_version()}, numpy {np.__version__}, load {os.getloadavg()[0]:.2f}")
    # The stored stand-in and its bundle exist together; the other steps need a few GB.
    big = args.only in (None, "npz")
    needed = (2.1 * args.images * SIZE * SIZE * CHANNELS if big else 0) + 3e9
    check_disk(args.workdir, int(needed))
    work = Path(tempfile.mkdtemp(prefix="bench-import-", dir=args.workdir))
    # A plain kill must still remove tens of GB of stand-ins: turn SIGTERM into SystemExit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, Any] = {}
    steps = {
        "npz": lambda: bench_npz(work, args.images, args.reference_images,
                                 args.compressed_images, args.chunk_images),
        "manifest": lambda: bench_manifest(work, args.manifest_images),
        "score": lambda: bench_score(work, args.score_images),
        "checkpoint": lambda: bench_checkpoint(
            work, [int(x) for x in args.checkpoint_images.split(",")]),
    }
    try:
        for name, step in steps.items():
            if args.only in (None, name):
                results[name] = step()
        if args.only is None:
            results["extrapolated"] = extrapolate(results)
            print("(5) 1.68M images: " + json.dumps(results["extrapolated"], indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        print(f"removed {work}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _child_args(raw: list[str]) -> list[Any]:
    return [int(a) if a.isdigit() else a for a in raw[1:]]


if __name__ == "__main__":
    main()
