"""User-facing errors: each message says what is wrong, where, and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable


class SubmissionInvalid(ValueError):
    """A submission (or its archive) failed validation; ``messages`` are shown to the participant."""

    def __init__(self, messages: str | Iterable[str]) -> None:
        self.messages: list[str] = [messages] if isinstance(messages, str) else list(messages)
        if not self.messages:
            self.messages = ["the submission is invalid"]
        super().__init__("; ".join(self.messages))


def preview(values: Iterable[object], limit: int = 3) -> str:
    """``a, b, c, …`` — the first few offending values, so a message stays short but actionable."""
    items = list(values)
    shown = ", ".join(str(v) for v in items[:limit])
    return shown + (", …" if len(items) > limit else "")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"
