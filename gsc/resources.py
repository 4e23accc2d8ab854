"""Files shipped with gsc: templates (installed as the package gsc.templates).

In an installed gsc they come from the package; in a source checkout, from the
top-level templates/ directory next to the gsc/ package. Never from the current directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_SOURCE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_text(name: str) -> str:
    """Text of a shipped template; FileNotFoundError if there is none by that name."""
    if "/" in name or name.startswith("."):
        raise FileNotFoundError(name)
    try:
        return resources.files("gsc.templates").joinpath(name).read_text("utf-8")
    except ModuleNotFoundError:
        return (_SOURCE_TEMPLATES / name).read_text("utf-8")
