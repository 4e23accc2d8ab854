"""Helpers shared by the tests that drive the installed gsc CLI and the real Docker Engine
(tests/pipeline, tests/compat, tests/audit). tests/ is on sys.path (root conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BASE = os.environ.get("GSC_TEST_BASE", "gsc-local/debian:bookworm")
REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


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
    """The example image examples/NAME, built from BASE once (tag gsc-example/NAME)."""
    tag = f"gsc-example/{name}:latest"
    if not image_exists(tag):
        docker("build", "-q", "--build-arg", f"BASE={BASE}", "-t", tag, str(EXAMPLES / name),
               timeout=900)
    return tag
