"""Fixtures for the attestation tests: the real DCAP quote v3 vector (copied from the shared
vectors into tests/vectors/attestation/) and a CLI runner."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

VEC = Path(__file__).resolve().parents[1] / "vectors" / "attestation"
SAMPLE = VEC / "dcap-qvl-sample"
NOW = dt.datetime(2025, 6, 25, tzinfo=dt.UTC)
NOW_TEXT = "2025-06-25T00:00:00Z"

EXPECTED: dict[str, Any] = {
    "status": "ConfigurationAndSWHardeningNeeded",
    "qe_status": "UpToDate",
    "advisories": ["INTEL-SA-00289", "INTEL-SA-00615"],
    "mrenclave": "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
    "mrsigner": "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6",
    "isvprodid": 0,
    "isvsvn": 0,
    "debug": False,
    "report_data": b"Hello, world!".hex() + "00" * 51,
    "fmspc": "00a067110000",
}


@pytest.fixture(scope="session")
def quote_bytes() -> bytes:
    return (SAMPLE / "sgx_quote.bin").read_bytes()


@pytest.fixture(scope="session")
def collateral_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLE / "sgx_quote_collateral.json").read_text())
    return data


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.out)
        return data


def run_gsc(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    full_env = dict(os.environ)
    full_env.pop("GSC_DEBUG", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "gsc", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
