"""Shared helpers for the encrypted-files tests: the vectors copied into tests/vectors/encfiles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parents[2]
VEC_DIR = REPO / "tests" / "vectors" / "encfiles"


def load_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VEC_DIR / "vectors.json").read_text())["vectors"]
    return vectors


VECTORS = load_vectors()
IDS = [v["name"] for v in VECTORS]


def data_of(v: dict[str, Any]) -> bytes:
    data = (VEC_DIR / v["encrypted_file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == v["encrypted_sha256"]
    return data


def plaintext_of(v: dict[str, Any]) -> bytes:
    # The one recipe the development set uses; evaluated here without eval().
    assert v["plaintext_recipe"] == "bytes(i % 251 for i in range(n))"
    pt = bytes(i % 251 for i in range(v["size"]))
    assert hashlib.sha256(pt).hexdigest() == v["plaintext_sha256"]
    return pt


class Reader(Protocol):
    size: int

    def read(self, offset: int, length: int) -> bytes: ...


def read_like_gramine(r: Reader) -> bytes:
    """The read pattern of the vector oracle: min(size, 3072) bytes, then 4096-byte chunks."""
    out = [r.read(0, min(r.size, 3072))]
    off = 3072
    while off < r.size:
        out.append(r.read(off, 4096))
        off += 4096
    return b"".join(out)
