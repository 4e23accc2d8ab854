"""Fixtures for the end-to-end build tests: real Docker, example images built locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BASE = os.environ.get("GSC_TEST_BASE", "gsc-local/debian:bookworm")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, object]:
        data = json.loads(self.stdout)
        assert isinstance(data, dict)
        return data


def gsc(*args: str | Path, env: dict[str, str] | None = None, timeout: int = 600) -> Run:
    # -P: never import gsc from the current directory; the tests exercise the installed gsc.
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "gsc", *map(str, args)],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def docker(*args: str, timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc


def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def build_example(name: str) -> str:
    tag = f"gsc-example/{name}:latest"
    if not image_exists(tag):
        docker("build", "-q", "--build-arg", f"BASE={BASE}", "-t", tag, str(EXAMPLES / name),
               timeout=900)
    return tag


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    key = d / "enclave-key.pem"
    r = gsc("gen-key", key)
    assert r.returncode == 0, r.stderr
    return key


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys2") / "other-key.pem"
    assert gsc("gen-key", key).returncode == 0
    return key


@pytest.fixture(scope="session")
def docker_ready() -> None:
    if docker("info", check=False).returncode != 0:
        pytest.fail("Docker Engine is not running (scripts/setup starts it)")
    if not image_exists(BASE):
        pytest.fail(f"base image {BASE} missing (scripts/build-base-images builds it)")


@pytest.fixture
def cleanup_images() -> Iterator[list[str]]:
    refs: list[str] = []
    yield refs
    for r in refs:
        docker("rmi", "-f", r, check=False)
