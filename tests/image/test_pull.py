"""Pulling: a local docker-registry on 127.0.0.1, the image pushed and removed locally."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from capabilities import need

from gsc.analysis import analyze
from gsc.image import load_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]
REGISTRY = "/usr/bin/docker-registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry() -> Iterator[str]:
    if not os.path.exists(REGISTRY):
        need("registry", False, "docker-registry is not installed")
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="gsc-registry-")
    cfg = os.path.join(tmp, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {tmp}/data\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen([REGISTRY, "serve", cfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


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
