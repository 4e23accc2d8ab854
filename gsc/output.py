"""Output conventions: results on stdout (`--json`: exactly one JSON object; otherwise
the result lines a script wants, e.g. the output tag or `MRENCLAVE <hex>`), everything
else (progress, notes, warnings) on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def result(line: str) -> None:
    """A result line (stdout)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """Human-readable diagnostics (stderr, so stdout stays machine-readable)."""
    sys.stderr.write(message + "\n")
