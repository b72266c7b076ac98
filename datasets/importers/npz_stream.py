"""Read ``.npz`` members chunk by chunk straight from the zip stream, never a whole array at once.

An ``.npz`` is a zip of ``.npy`` files, each stored or deflated. ``zipfile`` decompresses a member
as it is read, and the ``.npy`` header gives dtype, shape and order, so an image member can be
read a few rows at a time; a 16 GB image array costs only one chunk of memory. Object dtypes are
refused before any data is read (they would need pickle), and so are Fortran-ordered image arrays
(their rows are not contiguous, so they cannot be read row by row).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

from datasets.importers.common import DatasetImportError

# A damaged member surfaces as one of these while it is read (bad CRC, truncated deflate stream).
_STREAM_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


@dataclass(frozen=True)
class Header:
    """One member's ``.npy`` header."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize


def _read_header(stream: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(stream)
    raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")


class NpzReader:
    """An open ``.npz``; errors name the file and the key at fault."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError:
            raise DatasetImportError(f"{self.path}: no such file") from None
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatasetImportError(f"{self.path}: not a readable .npz archive ({exc})") from None
        names = self._zip.namelist()
        self.keys = sorted(n[: -len(".npy")] for n in names if n.endswith(".npy"))

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _open(self, key: str) -> IO[bytes]:
        if key not in self.keys:
            raise DatasetImportError(
                f"{self.path}: missing key {key!r} (the file has: {', '.join(self.keys) or 'none'})"
            )
        return self._zip.open(f"{key}.npy")

    def _fail(self, key: str, exc: BaseException) -> DatasetImportError:
        return DatasetImportError(f"{self.path}: key {key!r} cannot be read ({exc})")

    def header(self, key: str) -> Header:
        """The member's header; object arrays are refused here, before any data is read."""
        with self._open(key) as stream:
            try:
                shape, fortran, dtype = _read_header(stream)
            except (ValueError, *_STREAM_ERRORS) as exc:
                raise self._fail(key, exc) from None
        if dtype.hasobject:
            raise DatasetImportError(
                f"{self.path}: key {key!r} holds an object array, which is refused "
                "(it would need pickle)"
            )
        return Header(key=key, shape=tuple(int(n) for n in shape), dtype=dtype,
                      fortran_order=bool(fortran))

    def read(self, key: str) -> np.ndarray:
        """A whole (small) member, e.g. labels or patient ids; any memory order is fine here."""
        self.header(key)
        with self._open(key) as stream:
            try:
                return np.lib.format.read_array(stream, allow_pickle=False)
            except (ValueError, *_STREAM_ERRORS) as exc:
                raise self._fail(key, exc) from None

    def chunks(self, key: str, rows: int) -> Iterator[np.ndarray]:
        """The member's rows, ``rows`` at a time (the last chunk may be shorter)."""
        header = self.header(key)
        if header.fortran_order and len(header.shape) > 1:
            raise DatasetImportError(
                f"{self.path}: key {key!r} is stored in Fortran order, which cannot be read image "
                "by image; save it again from numpy.ascontiguousarray(...)"
            )
        total = header.shape[0] if header.shape else 0
        with self._open(key) as stream:
            try:
                _read_header(stream)
                for start in range(0, total, max(1, rows)):
                    n = min(rows, total - start)
                    yield self._rows(stream, header, n)
                # Reading past the end makes zipfile check the member's CRC.
                if stream.read(1):
                    raise ValueError("the member holds more bytes than its header's shape")
            except (ValueError, *_STREAM_ERRORS) as exc:
                raise self._fail(key, exc) from None

    def _rows(self, stream: IO[bytes], header: Header, n: int) -> np.ndarray:
        want = n * header.row_bytes
        # read1 pieces joined once: ZipExtFile.read grows one bytes object piece by piece, which
        # copied each chunk several times over.
        pieces, got = [], 0
        while got < want:
            piece = stream.read1(want - got)  # type: ignore[attr-defined]
            if not piece:
                raise EOFError(f"the member ends early ({got} of {want} bytes in this chunk)")
            pieces.append(piece)
            got += len(piece)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        # frombuffer gives a read-only view of the bytes just read; the caller copies what it keeps.
        return np.frombuffer(data, dtype=header.dtype).reshape((n, *header.shape[1:]))
