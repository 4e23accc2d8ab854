"""Fixtures for the audit tests: the installed gsc CLI and the real Docker Engine."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BASE = os.environ.get("GSC_TEST_BASE", "gsc-local/debian:bookworm")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def gsc(*args: str | Path, timeout: int = 600) -> Run:
    # -P: the tests exercise the installed gsc, never the checkout.
    proc = subprocess.run([sys.executable, "-P", "-m", "gsc", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def docker(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def docker_ready() -> None:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("Docker Engine is not running (scripts/setup starts it)")


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "enclave-key.pem"
    r = gsc("gen-key", key)
    assert r.returncode == 0, r.stderr
    return key
