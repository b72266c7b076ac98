"""Hostile checkpoint uploads: pickles, traversal, links, lying safetensors headers, bombs."""

from __future__ import annotations

import json
import pickle
import struct

from reference_models.manifest import FORMAT
from tests.security.corpus import (
    SCRIPT,
    UPLOAD,
    WORKER,
    Case,
    Ctx,
    Payload,
    Upload,
    f32_tensor,
    safetensors_bytes,
    zip_bytes,
)

TASK = "tiny-cxr"  # three classes
FILE = f"{TASK}.safetensors"
WIDTH = 32  # embed_dim of the tiny backbone the worker-side cases run on


def manifest(ctx: Ctx, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "format": FORMAT,
        "benchmark": "tiny-bench",
        "method": "linear",
        "backbones": {"backbone": ctx.backbone},
        "tasks": {TASK: {"file": FILE, "task_version": "1"}},
    }
    data.update(overrides)
    return data


def head(
    weight: bytes | None = None,
    *,
    names: tuple[str, str] = ("head.weight", "head.bias"),
    weight_shape: tuple[int, int] = (3, WIDTH),
) -> bytes:
    """A linear head's safetensors file (valid unless told otherwise)."""
    w_bytes = weight if weight is not None else struct.pack("<f", 0.01) * (3 * WIDTH)
    w = f32_tensor(list(weight_shape))
    b = f32_tensor([3], offset=len(w_bytes))
    return safetensors_bytes({names[0]: w, names[1]: b}, w_bytes + b"\0" * 12)


def archive(
    ctx: Ctx,
    tensors: bytes | None = None,
    *,
    data: object = None,
    extra: dict[str, bytes | str] | None = None,
    **kw: object,
) -> Upload:
    members: dict[str, bytes | str] = {
        "manifest.json": json.dumps(data if data is not None else manifest(ctx)),
        FILE: tensors if tensors is not None else head(),
    }
    members.update(extra or {})
    return Upload(zip_bytes(members, **kw), name="checkpoint.zip")  # type: ignore[arg-type]


def no_manifest(ctx: Ctx) -> Upload:
    return Upload(zip_bytes({FILE: head()}), name="checkpoint.zip")


def pickle_member(ctx: Ctx) -> Upload:
    return archive(ctx, extra={f"{TASK}.pt": pickle.dumps(Payload(ctx.marker))})


def pickled_manifest(ctx: Ctx) -> Upload:
    members = {"manifest.json": pickle.dumps(Payload(ctx.marker)), FILE: head()}
    return Upload(zip_bytes(members), name="checkpoint.zip")  # type: ignore[arg-type]


def pickle_as_safetensors(ctx: Ctx) -> Upload:
    return archive(ctx, pickle.dumps(Payload(ctx.marker)))


def traversal_member(ctx: Ctx) -> Upload:
    return archive(ctx, extra={f"../../{FILE}": head()})


def symlink_member(ctx: Ctx) -> Upload:
    members = {"manifest.json": json.dumps(manifest(ctx)), FILE: "/etc/passwd"}
    return Upload(zip_bytes(members, modes={FILE: 0o120777}), name="checkpoint.zip")  # type: ignore[arg-type]


def header_past_end(ctx: Ctx) -> Upload:
    return archive(ctx, safetensors_bytes({}, b"", length=1 << 20))


def header_huge_length(ctx: Ctx) -> Upload:
    return archive(ctx, struct.pack("<Q", 2**62) + b"{}")


def trillion_elements(ctx: Ctx) -> Upload:
    header = {"head.weight": f32_tensor([10**6, 10**6]), "head.bias": f32_tensor([3])}
    header["head.bias"]["data_offsets"] = [4 * 10**12, 4 * 10**12 + 12]  # type: ignore[index]
    return archive(ctx, safetensors_bytes(header, b"\0" * 64))


def overlapping(ctx: Ctx) -> Upload:
    header = {"head.weight": f32_tensor([3, WIDTH]), "head.bias": f32_tensor([3], offset=8)}
    return archive(ctx, safetensors_bytes(header, b"\0" * (4 * 3 * WIDTH)))


def dtype(name: str) -> Case:
    def build(ctx: Ctx) -> Upload:
        size = 3 * WIDTH * 8  # I64 and F64: 8 bytes an element
        header = {"head.weight": f32_tensor([3, WIDTH], dtype=name)}
        header["head.bias"] = f32_tensor([3], offset=size, dtype=name)
        return archive(ctx, safetensors_bytes(header, b"\0" * (size + 3 * 8)))

    return Case(f"ckpt-dtype-{name.lower()}", C, build, UPLOAD, rf"dtype {name}; allowed")


def header_not_json(ctx: Ctx) -> Upload:
    return archive(ctx, struct.pack("<Q", 5) + b"\x80\x04K\x01.")


def bomb(ctx: Ctx) -> Upload:
    n = 5 << 20  # 20 MB of zero F32
    header = {"head.weight": f32_tensor([n // WIDTH, WIDTH]), "head.bias": f32_tensor([3])}
    header["head.bias"]["data_offsets"] = [4 * n, 4 * n + 12]  # type: ignore[index]
    return archive(ctx, safetensors_bytes(header, b"\0" * (4 * n + 12)))


def nested_archive(ctx: Ctx) -> Upload:
    return archive(ctx, extra={"inner.zip": zip_bytes({FILE: head()})})


def manifest_file_traversal(ctx: Ctx) -> Upload:
    data = manifest(ctx, tasks={TASK: {"file": "../../evil.safetensors", "task_version": "1"}})
    return archive(ctx, data=data)


def homoglyph_task(ctx: Ctx) -> Upload:
    data = manifest(ctx, tasks={"tiny-c\u0445r": {"file": FILE, "task_version": "1"}})
    return archive(ctx, data=data)


def html_method(ctx: Ctx) -> Upload:
    return archive(ctx, data=manifest(ctx, method=SCRIPT))


def huge_manifest(ctx: Ctx) -> Upload:
    return archive(ctx, data=manifest(ctx, description="x" * (80 << 10)))


def dotdot_backbone(ctx: Ctx) -> Upload:
    return archive(ctx, data=manifest(ctx, backbones={"backbone": ".."}))


def other_benchmark(ctx: Ctx) -> Upload:
    return archive(ctx, data=manifest(ctx, benchmark="med-vtab"))


def names_with_dotdot(ctx: Ctx) -> Upload:
    return archive(ctx, head(names=("../../head.weight", "head.bias")))


def wrong_shape(ctx: Ctx) -> Upload:
    return archive(ctx, head(struct.pack("<f", 0.01) * (3 * 33), weight_shape=(3, 33)))


def nan_weights(ctx: Ctx) -> Upload:
    return archive(ctx, head(struct.pack("<f", float("nan")) * (3 * WIDTH)))


C = "checkpoint"
CHECKPOINT_CASES = [
    Case("ckpt-no-manifest", C, no_manifest, UPLOAD, r"no manifest\.json"),
    Case("ckpt-pickle-member", C, pickle_member, UPLOAD, r"pickle-based files"),
    Case("ckpt-pickled-manifest", C, pickled_manifest, UPLOAD, r"manifest\.json is not valid JSON"),
    Case(
        "ckpt-pickle-as-safetensors",
        C,
        pickle_as_safetensors,
        UPLOAD,
        r"exceeds the limit of \d+ \(is it a safetensors file\?\)",
    ),
    Case("ckpt-path-traversal", C, traversal_member, UPLOAD, r"path tricks"),
    Case("ckpt-symlink", C, symlink_member, UPLOAD, r"link"),
    Case("ckpt-header-past-end", C, header_past_end, UPLOAD, r"truncated"),
    Case("ckpt-header-length-2e62", C, header_huge_length, UPLOAD, r"exceeds the limit"),
    Case("ckpt-trillion-elements", C, trillion_elements, UPLOAD, r"does not match its header"),
    Case("ckpt-overlapping-offsets", C, overlapping, UPLOAD, r"overlaps"),
    dtype("I64"),
    dtype("F64"),
    Case("ckpt-header-not-json", C, header_not_json, UPLOAD, r"not a safetensors file"),
    Case("ckpt-zip-bomb", C, bomb, UPLOAD, r"compression ratio"),
    Case("ckpt-nested-archive", C, nested_archive, UPLOAD, r"unexpected member.*inner\.zip"),
    Case("ckpt-manifest-file-traversal", C, manifest_file_traversal, UPLOAD, r"schema"),
    Case("ckpt-homoglyph-task", C, homoglyph_task, UPLOAD, r"schema"),
    Case("ckpt-html-method", C, html_method, UPLOAD, r"schema at method"),
    Case("ckpt-huge-manifest", C, huge_manifest, UPLOAD, r"larger than"),
    Case("ckpt-dotdot-backbone", C, dotdot_backbone, UPLOAD, r"backbone '\.\.'|unknown"),
    Case("ckpt-other-benchmark", C, other_benchmark, UPLOAD, r"names benchmark 'med-vtab'"),
    Case("ckpt-dotdot-tensor-names", C, names_with_dotdot, WORKER, r"missing tensor"),
    Case("ckpt-wrong-shape", C, wrong_shape, WORKER, r"has shape \[3, 33\]"),
    Case("ckpt-nan-weights", C, nan_weights, WORKER, r"not finite|NaN"),
]
