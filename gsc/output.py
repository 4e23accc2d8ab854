"""Output conventions: `--json` prints exactly one JSON object on stdout; human text
goes to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def say(message: str) -> None:
    """Human-readable text (stderr, so stdout stays machine-readable)."""
    sys.stderr.write(message + "\n")
