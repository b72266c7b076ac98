"""Serve plotly.js from the installed ``plotly`` Python package, never from a CDN.

The finder copies ``plotly/package_data/plotly.min.js`` to ``<VAR_DIR>/vendor-static/vendor/`` the
first time it is asked (runserver, the test server and ``collectstatic`` all ask) and writes next
to it ``plotly.css``: the global style rules plotly.js would otherwise inject as an inline
``<style>`` element, which the strict content-security policy (``style-src 'self'``) refuses.
Pages link that file with ``id="plotly.js-style-global" class="no-inline-styles"``, the marker
plotly.js checks before injecting its own.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage
from django.core.checks import Error as CheckError
from django.core.files.storage import FileSystemStorage

JS = "vendor/plotly.min.js"
CSS = "vendor/plotly.css"
# The rules object: {"X,X div":"…", …, "Y .notifier-close:hover":"…"} with X and Y placeholders.
_STRING = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
_PAIR = re.compile(rf"({_STRING}):({_STRING})")


def plotly_source() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _unquote(token: str) -> str:
    if token.startswith("'"):
        token = '"' + token[1:-1].replace('\\"', '"').replace('"', '\\"') + '"'
    return str(json.loads(token))


def plotly_css(js: str) -> str:
    """The library-wide CSS rules of a plotly.js bundle, as a stylesheet."""
    end = js.index('"Y .notifier-close:hover"')
    start = js.rindex('{"X', 0, end)
    close = js.index("}", js.index(":", end)) + 1
    rules = []
    for key, value in _PAIR.findall(js[start:close]):
        selector = _unquote(key)
        selector = re.sub(r"^,", " ,", selector)
        selector = selector.replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append(f"{selector}{{{_unquote(value)}}}")
    if len(rules) < 10:
        raise ValueError("could not find plotly.js's style rules in the bundle")
    return "\n".join(rules) + "\n"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class PlotlyFinder(BaseFinder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.root = Path(settings.VAR_DIR) / "vendor-static"
        self.storage = FileSystemStorage(location=str(self.root))

    def ensure(self) -> None:
        source = plotly_source()
        target = self.root / JS
        stat = source.stat()
        if (
            target.is_file()
            and target.stat().st_size == stat.st_size
            and (self.root / CSS).is_file()
        ):
            return
        data = source.read_bytes()
        _write(self.root / CSS, plotly_css(data.decode("utf-8")).encode())
        _write(target, data)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        if not plotly_source().is_file():
            return [CheckError("plotly is not installed: the charts need its plotly.min.js")]
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        find_all = find_all or bool(kwargs.get("all"))
        if path not in (JS, CSS):
            return [] if find_all else ""
        self.ensure()
        found = str(self.root / path)
        return [found] if find_all else found

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        self.ensure()
        for path in (JS, CSS):
            yield path, self.storage
