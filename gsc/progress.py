"""Progress reporting on stderr: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.seconds: dict[str, float] = {}
        self._phase = ""
        self._last_update = 0.0

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text)
            self.stream.flush()

    @contextmanager
    def phase(self, name: str, title: str) -> Iterator[None]:
        self._phase = title
        start = time.monotonic()
        if self.tty:
            self._write(f"\r\x1b[K{title} ...")
        else:
            self._write(f"gsc: {title} ...\n")
        try:
            yield
        finally:
            elapsed = time.monotonic() - start
            self.seconds[name] = round(self.seconds.get(name, 0.0) + elapsed, 3)
            if self.tty:
                self._write(f"\r\x1b[K{title}: done in {elapsed:.1f}s\n")

    def update(self, detail: str) -> None:
        """A detail for the current phase; rate-limited, and only on a terminal."""
        now = time.monotonic()
        if self.tty and now - self._last_update > 0.1:
            self._last_update = now
            self._write(f"\r\x1b[K{self._phase}: {detail}")

    def note(self, message: str) -> None:
        if self.tty:
            self._write("\r\x1b[K")
        self._write(f"gsc: {message}\n")

    def warn(self, message: str) -> None:
        """A warning: always shown on stderr, even when quiet (-q never drops warnings)."""
        if self.tty and not self.quiet:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"gsc: warning: {message}\n")
        self.stream.flush()
