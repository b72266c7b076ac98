"""Read the ``.npy`` arrays of a predictions ``.npz`` with the standard library only.

Only plain arrays are read: floats, integers, unicode and byte strings. An object array (pickled
Python objects) is refused without being touched, as the server does.
"""

from __future__ import annotations

import ast
import struct
from typing import Any

MAGIC = b"\x93NUMPY"
NUMERIC = {"f8": "d", "f4": "f", "f2": "e", "i8": "q", "i4": "i", "i2": "h", "i1": "b"}
NUMERIC |= {"u8": "Q", "u4": "I", "u2": "H", "u1": "B", "b1": "?"}


class NpyError(ValueError):
    pass


def _header(data: bytes) -> tuple[dict[str, Any], int]:
    if not data.startswith(MAGIC) or len(data) < 10:
        raise NpyError("not a .npy array")
    major = data[6]
    if major == 1:
        (length,), start = struct.unpack("<H", data[8:10]), 10
    elif major in (2, 3):
        (length,), start = struct.unpack("<I", data[8:12]), 12
    else:
        raise NpyError(f"unsupported .npy version {major}")
    try:
        header = ast.literal_eval(data[start : start + length].decode("latin-1"))
    except (ValueError, SyntaxError) as exc:
        raise NpyError(f"unreadable .npy header ({exc})") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise NpyError("unreadable .npy header")
    return header, start + length


def _flat(descr: str, payload: bytes, count: int) -> list[Any]:
    order, kind = ("<" if descr[0] in "<|=" else ">"), descr[1:]
    if kind.startswith("O"):
        raise NpyError("holds Python objects (an object array), which are never loaded")
    if kind in NUMERIC:
        size = struct.calcsize(NUMERIC[kind])
        if len(payload) < size * count:
            raise NpyError("is truncated")
        return list(struct.unpack(f"{order}{count}{NUMERIC[kind]}", payload[: size * count]))
    if kind[:1] in ("U", "S") and kind[1:].isdigit():
        width = int(kind[1:])
        item = width * (4 if kind[0] == "U" else 1)
        if len(payload) < item * count:
            raise NpyError("is truncated")
        codec = ("utf-32-le" if order == "<" else "utf-32-be") if kind[0] == "U" else "utf-8"
        return [
            payload[i * item : (i + 1) * item].decode(codec, "replace").rstrip("\x00")
            for i in range(count)
        ]
    raise NpyError(f"has an unsupported dtype {descr!r}")


def read_npy(data: bytes) -> tuple[tuple[int, ...], str, list[Any]]:
    """(shape, dtype kind letter, values in C order)."""
    header, offset = _header(data)
    shape = tuple(int(n) for n in header["shape"])
    count = 1
    for n in shape:
        count *= n
    descr = str(header["descr"])
    values = _flat(descr, data[offset:], count)
    if header["fortran_order"] and len(shape) == 2:
        rows, cols = shape
        values = [values[c * rows + r] for r in range(rows) for c in range(cols)]
    return shape, descr[1:2], values
