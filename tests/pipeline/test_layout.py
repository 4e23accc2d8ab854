"""The /gsc/ layout has one owner (gsc/shield/layout.py); the runtime's C header is
generated from it and must match, and the runtime uses the header's names."""

from __future__ import annotations

from pathlib import Path

from gsc.shield import layout

REPO = Path(__file__).resolve().parents[2]


def test_committed_header_matches_layout_module() -> None:
    header = REPO / "runtime" / "core" / "gsc_layout.h"
    assert header.read_text() == layout.c_header(), (
        "runtime/core/gsc_layout.h is stale: run "
        "`python -m gsc.shield.layout > runtime/core/gsc_layout.h`")


def test_runtime_spells_no_layout_name_itself() -> None:
    for src in (REPO / "runtime" / "src").glob("*.c"):
        text = src.read_text()
        for name in (layout.MANIFEST_NAME, layout.SIG_NAME):
            assert f'"{name}"' not in text, f"{src.name} hard-codes {name}"
