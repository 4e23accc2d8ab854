"""Pulling: a local docker-registry on 127.0.0.1, the image pushed and removed locally."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import local_registry
import pytest
from capabilities import need

from gsc.analysis import analyze
from gsc.image import load_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def registry() -> Iterator[str]:
    need("registry", os.path.exists(local_registry.REGISTRY_BIN),
         "docker-registry is not installed")
    r = local_registry.start()
    try:
        yield r.host
    finally:
        r.stop()


def _docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=300)


def test_inspect_pulls_from_registry(registry: str, test_image: Any) -> None:
    src = test_image("userapp")
    remote = f"{registry}/gsc-test-pull:v1"
    _docker("tag", src, remote)
    digest_ref = ""
    try:
        _docker("push", remote)
        _docker("rmi", remote)
        with load_image(remote) as img:
            assert img.repo_digests and img.repo_digests[0].startswith(f"{registry}/")
            a = analyze(img)
            assert a.argv == ["/app/server", "--port", "8080"] and a.missing == []
            digest_ref = img.repo_digests[0]
        _docker("rmi", remote)
        with load_image(digest_ref) as by_digest:  # pulled again, by digest
            assert by_digest.config.user == "1000:1000"
    finally:
        for leftover in (remote, digest_ref):
            if leftover:
                subprocess.run(["docker", "rmi", leftover], capture_output=True)
