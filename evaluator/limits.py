"""Size limits for prediction submissions (stdlib only, shared by the web tier and the workers)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    # The archive as uploaded, and the sum of its members once decompressed.
    max_archive_bytes: int = 512 * 1024**2
    max_uncompressed_bytes: int = 2 * 1024**3
    max_members: int = 256
    # Deflate reaches a few hundred on highly repetitive CSVs (a uniform sample submission);
    # zip bombs are in the thousands to millions.
    max_ratio: float = 1000.0
    # Per task file: bytes allowed per expected cell (id or probability) plus a fixed slack.
    bytes_per_cell: int = 64
    slack_bytes: int = 64 * 1024
    max_messages_per_file: int = 8

    def member_budget(self, n_rows: int, n_columns: int) -> int:
        return n_rows * (n_columns + 1) * self.bytes_per_cell + self.slack_bytes


DEFAULT_LIMITS = Limits()
