"""Fixtures for the compatibility matrix: real Docker, app images built from Debian packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE = os.environ.get("GSC_TEST_BASE", "gsc-local/debian:bookworm")


def gsc(*args: str | Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    # -P: the installed gsc, never the source tree.
    return subprocess.run([sys.executable, "-P", "-m", "gsc", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def docker(*args: str, timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("compat-keys") / "enclave-key.pem"
    r = gsc("gen-key", key)
    assert r.returncode == 0, r.stderr
    return key


@pytest.fixture(scope="session")
def docker_ready() -> None:
    if docker("info", check=False).returncode != 0:
        pytest.fail("Docker Engine is not running (scripts/setup starts it)")
    if not image_exists(BASE):
        pytest.fail(f"base image {BASE} missing (scripts/build-base-images builds it)")
