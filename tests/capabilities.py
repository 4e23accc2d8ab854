"""What a test needs from the machine, declared one way so that CI can insist on it.

A test that cannot run here calls ``need(cap, available, why)`` (or uses
``skipif(..., reason=reason(cap, why))``): the skip reason starts with ``needs CAP:``.
``pytest --require=docker,clang`` (scripts/test passes it) turns every such skip of a
listed capability into a failure, and ``--require=all`` turns every skip into one, so CI
can never pass by silently skipping a tier.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache

import pytest

CAPABILITIES = ("docker", "clang", "gcc", "openssl", "tar", "registry", "root", "sha-ni")
_REASON = re.compile(r"^needs ([a-z-]+): ")


def reason(cap: str, why: str) -> str:
    if cap not in CAPABILITIES:
        raise ValueError(f"unknown capability {cap!r}")
    return f"needs {cap}: {why}"


def need(cap: str, available: bool, why: str) -> None:
    """Skip the calling test (or fixture) unless `available`."""
    if not available:
        pytest.skip(reason(cap, why))


def capability_of(skip_reason: str) -> str | None:
    m = _REASON.match(skip_reason.removeprefix("Skipped: "))
    return m.group(1) if m else None


@cache
def docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def need_docker() -> None:
    need("docker", docker_ok(), "no running Docker Engine (scripts/setup starts one)")
