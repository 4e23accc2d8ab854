"""Fixtures for the SGX tests: the shared test vectors and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    env = os.environ.get("GSC_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent.parent / "shared"


def _sgx_dir() -> Path:
    return shared_dir() / "testvectors" / "sgx"


@pytest.fixture(scope="session")
def sgx_dir() -> Path:
    d = _sgx_dir()
    if not (d / "vectors.json").is_file():
        pytest.fail(f"SGX test vectors not found at {d} (set GSC_SHARED)")
    return d


@pytest.fixture(scope="session")
def vectors(sgx_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sgx_dir / "vectors.json").read_text())
    return data


def load_vectors() -> dict[str, Any]:
    """For parametrisation at collection time (empty when the vectors are missing)."""
    p = _sgx_dir() / "vectors.json"
    if not p.is_file():
        return {"measure": [], "sign": [], "errors": [], "bad_keys": []}
    data: dict[str, Any] = json.loads(p.read_text())
    return data


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_gsc(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> CliResult:
    full_env = {k: v for k, v in os.environ.items() if k != "GSC_KEY_PASSPHRASE"}
    full_env.pop("GSC_DEBUG", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "gsc", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(res: CliResult, codes: tuple[int, ...] = (1, 2)) -> str:
    assert res.code in codes, (res.code, res.out, res.err)
    lines = res.err.strip("\n").split("\n")
    assert len(lines) == 1, res.err
    assert lines[0].startswith("gsc: error: "), res.err
    assert "Traceback" not in res.err
    return lines[0]
