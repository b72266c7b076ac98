"""Hostile predictions uploads: archives, paths, pickles, encodings, lying .npy headers."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np

from tests.leaderboard.conftest import predictions_zip
from tests.security.corpus import (
    SCRIPT,
    UPLOAD,
    WORKER,
    Case,
    Ctx,
    Payload,
    Upload,
    png_bytes,
    set_encrypted_flag,
    zip_bytes,
)

TASK = "tiny-cxr"
ZEROS = b"\0" * (20 << 20)  # 20 MB of zeros: deflate gets ~1000x, enough for a bomb


def valid_csv(ctx: Ctx, slug: str = TASK) -> str:
    with zipfile.ZipFile(io.BytesIO(predictions_zip(ctx.root, tasks=[slug]))) as zf:
        return zf.read(f"{slug}.csv").decode()


def one(name: str, data: bytes | str, **kw: object) -> Upload:
    return Upload(zip_bytes({name: data}, **kw))  # type: ignore[arg-type]


def npz(arrays: dict[str, object], *, pickle_ok: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, array in arrays.items():
            if isinstance(array, bytes):
                zf.writestr(f"{key}.npy", array)
                continue
            inner = io.BytesIO()
            np.save(inner, array, allow_pickle=pickle_ok)
            zf.writestr(f"{key}.npy", inner.getvalue())
    return buffer.getvalue()


def ids_and_probs(ctx: Ctx) -> tuple[np.ndarray, np.ndarray]:
    lines = valid_csv(ctx).strip().splitlines()[1:]
    ids = np.array([line.split(",")[0] for line in lines])
    probs = np.array([[float(v) for v in line.split(",")[1:]] for line in lines])
    return ids, probs


def lying_npy(shape: tuple[int, ...]) -> bytes:
    """A .npy header that declares ``shape`` in front of 64 bytes of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + b"\0" * 64


def deflate_bomb(ctx: Ctx) -> Upload:
    return one(f"{TASK}.csv", ZEROS, compression=zipfile.ZIP_DEFLATED)


def bzip2_bomb(ctx: Ctx) -> Upload:
    return one(f"{TASK}.csv", ZEROS[: 4 << 20], compression=zipfile.ZIP_BZIP2)


def nested_zip(ctx: Ctx) -> Upload:
    return one(f"{TASK}.zip", zip_bytes({f"{TASK}.csv": valid_csv(ctx)}))


def nested_tgz(ctx: Ctx) -> Upload:
    return one(f"{TASK}.csv.tar.gz", b"\x1f\x8b" + b"\0" * 64)


def traversal(ctx: Ctx) -> Upload:
    return one(f"../../../{TASK}.csv", valid_csv(ctx))


def absolute(ctx: Ctx) -> Upload:
    return one(f"/tmp/{TASK}.csv", valid_csv(ctx))


def backslashes(ctx: Ctx) -> Upload:
    return one(f"..\\..\\{TASK}.csv", valid_csv(ctx))


def symlink(ctx: Ctx) -> Upload:
    return one(f"{TASK}.csv", "/etc/passwd", modes={f"{TASK}.csv": 0o120777})


def encrypted(ctx: Ctx) -> Upload:
    return Upload(set_encrypted_flag(zip_bytes({f"{TASK}.csv": valid_csv(ctx)})))


def duplicate(ctx: Ctx) -> Upload:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is asked to write
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr(f"{TASK}.csv", valid_csv(ctx))
            zf.writestr(f"{TASK}.csv", valid_csv(ctx))
    return Upload(buffer.getvalue())


def many_members(ctx: Ctx) -> Upload:
    return Upload(zip_bytes({f"m{i}.csv": "" for i in range(300)}))


def raw_pickle_member(ctx: Ctx) -> Upload:
    return one(f"{TASK}.pkl", pickle.dumps(Payload(ctx.marker)))


def pickle_as_npz(ctx: Ctx) -> Upload:
    return one(f"{TASK}.npz", pickle.dumps(Payload(ctx.marker)))


def pickle_object_array(ctx: Ctx) -> Upload:
    ids, probs = ids_and_probs(ctx)
    payload = np.array([Payload(ctx.marker)] * len(ids), dtype=object)
    return one(f"{TASK}.npz", npz({"image_ids": payload, "probs": probs}, pickle_ok=True))


def pickle_as_npy(ctx: Ctx) -> Upload:
    _, probs = ids_and_probs(ctx)
    member = npz({"image_ids": pickle.dumps(Payload(ctx.marker)), "probs": probs})
    return one(f"{TASK}.npz", member)


def npy_trillion_rows(ctx: Ctx) -> Upload:
    ids, _ = ids_and_probs(ctx)
    return one(f"{TASK}.npz", npz({"image_ids": ids, "probs": lying_npy((10**12, 3))}))


def npz_complex_probs(ctx: Ctx) -> Upload:
    ids, probs = ids_and_probs(ctx)
    return one(f"{TASK}.npz", npz({"image_ids": ids, "probs": probs.astype(np.complex128)}))


def npz_ids_not_utf8(ctx: Ctx) -> Upload:
    ids, probs = ids_and_probs(ctx)
    raw = np.array([b"\xff\xfe" + i.encode() for i in ids], dtype=bytes)
    return one(f"{TASK}.npz", npz({"image_ids": raw, "probs": probs}))


def npz_bomb(ctx: Ctx) -> Upload:
    ids, _ = ids_and_probs(ctx)
    member = npz({"image_ids": ids, "probs": np.zeros((300_000, 3))})
    return one(f"{TASK}.npz", member, compression=zipfile.ZIP_STORED)


def formula_ids(ctx: Ctx) -> Upload:
    lines = valid_csv(ctx).splitlines()
    lines[1] = "=cmd|' /C calc'!A0" + lines[1][lines[1].index(",") :]
    lines[2] = '=HYPERLINK("http://x")' + lines[2][lines[2].index(",") :]
    return one(f"{TASK}.csv", "\n".join(lines) + "\n")


def html_header(ctx: Ctx) -> Upload:
    lines = valid_csv(ctx).splitlines()
    lines[0] = lines[0].replace(",a,", f",{SCRIPT},")
    return one(f"{TASK}.csv", "\n".join(lines) + "\n")


def huge_header(ctx: Ctx) -> Upload:
    lines = valid_csv(ctx).splitlines()
    lines[0] += "".join(f",{SCRIPT}{i}" for i in range(1500))  # ~40 KB of columns
    return one(f"{TASK}.csv", "\n".join(lines) + "\n")


def latin1_csv(ctx: Ctx) -> Upload:
    text = valid_csv(ctx).replace("image_id", "image_id\u00e9", 1)
    return one(f"{TASK}.csv", text.encode("latin-1"))


def utf16_csv(ctx: Ctx) -> Upload:
    return one(f"{TASK}.csv", valid_csv(ctx).encode("utf-16"))


def oversized_csv(ctx: Ctx) -> Upload:
    rng = np.random.default_rng(0)
    extra = "".join(f"x{v},0.2,0.3,0.5\n" for v in rng.integers(0, 10**12, 8000))
    return one(f"{TASK}.csv", valid_csv(ctx) + extra)


def corrupt_crc(ctx: Ctx) -> Upload:
    data = bytearray(zip_bytes({f"{TASK}.csv": valid_csv(ctx)}, compression=zipfile.ZIP_STORED))
    at = data.find(b"image_id")
    data[at + 40] ^= 0xFF  # a byte inside the member's data; headers untouched
    return Upload(bytes(data))


def homoglyph_task(ctx: Ctx) -> Upload:
    return one("tiny-c\u0445r.csv", valid_csv(ctx))  # Cyrillic 'kha' for 'x'


def rtl_member(ctx: Ctx) -> Upload:
    return one("tiny-\u202ervc-.csv", valid_csv(ctx))


def png_as_zip(ctx: Ctx) -> Upload:
    return Upload(png_bytes(), name="predictions.zip", content_type="image/png")


def text_as_zip(ctx: Ctx) -> Upload:
    return Upload(valid_csv(ctx).encode(), name="predictions.zip", content_type="text/plain")


def csv_not_zip(ctx: Ctx) -> Upload:
    return Upload(valid_csv(ctx).encode(), name=f"{TASK}.csv", content_type="text/csv")


def empty_zip(ctx: Ctx) -> Upload:
    return Upload(zip_bytes({}))


def traversal_filename(ctx: Ctx) -> Upload:
    return Upload(png_bytes(), name="../../../../escape.zip")


P = "predictions"
PREDICTIONS_CASES = [
    Case("deflate-bomb", P, deflate_bomb, UPLOAD, r"zip bomb"),
    Case("bzip2-bomb", P, bzip2_bomb, UPLOAD, r"zip bomb"),
    Case("nested-zip", P, nested_zip, UPLOAD, r"nested archive"),
    Case("nested-tar-gz", P, nested_tgz, UPLOAD, r"nested archive"),
    Case("path-traversal", P, traversal, UPLOAD, r"unsafe path"),
    Case("absolute-path", P, absolute, UPLOAD, r"unsafe path"),
    Case("backslash-traversal", P, backslashes, UPLOAD, r"unsafe path"),
    Case("symlink-member", P, symlink, UPLOAD, r"symbolic link"),
    Case("encrypted-member", P, encrypted, UPLOAD, r"encrypted"),
    Case("duplicate-member", P, duplicate, UPLOAD, r"appears twice"),
    Case("too-many-members", P, many_members, UPLOAD, r"300 members"),
    Case("pickle-member", P, raw_pickle_member, UPLOAD, r"not an allowed file"),
    Case("pickle-as-npz", P, pickle_as_npz, WORKER, r"not a valid \.npz"),
    Case("pickle-object-array", P, pickle_object_array, WORKER, r"Python objects"),
    Case("pickle-as-npy", P, pickle_as_npy, WORKER, r"image_ids' holds Python objects"),
    Case("npy-trillion-rows", P, npy_trillion_rows, WORKER, r"probs.*declares"),
    Case("npz-complex-probs", P, npz_complex_probs, WORKER, r"2-D numeric array"),
    Case("npz-ids-not-utf8", P, npz_ids_not_utf8, WORKER, r"image_ids.*UTF-8"),
    Case("npz-inner-bomb", P, npz_bomb, WORKER, r"zip bomb|far more than"),
    Case("formula-image-ids", P, formula_ids, WORKER, r"not test images of this task"),
    Case("html-in-csv-header", P, html_header, WORKER, r"unknown column"),
    Case("huge-csv-header", P, huge_header, WORKER, r"unknown column\(s\) .*…"),
    Case("latin1-csv", P, latin1_csv, WORKER, r"not valid UTF-8"),
    Case("utf16-csv", P, utf16_csv, WORKER, r"UTF-16"),
    Case("oversized-csv", P, oversized_csv, WORKER, r"should be well under"),
    Case("corrupt-crc", P, corrupt_crc, WORKER, r"corrupt"),
    Case("homoglyph-task-name", P, homoglyph_task, UPLOAD, r"no task 'tiny-c"),
    Case("rtl-override-member", P, rtl_member, UPLOAD, r"no task"),
    Case("png-renamed-zip", P, png_as_zip, UPLOAD, r"not a zip archive"),
    Case("text-plain-zip", P, text_as_zip, UPLOAD, r"not a zip archive"),
    Case("csv-not-zip", P, csv_not_zip, UPLOAD, r"\.zip"),
    Case("empty-zip", P, empty_zip, UPLOAD, r"empty|no <task-slug>"),
    Case("traversal-file-name", P, traversal_filename, UPLOAD, r"not a zip archive"),
]
