"""Shielding an image with hostile and odd content: names with spaces, quotes, a newline
and non-UTF-8 bytes, symlinks aimed at host paths, a loop, a sparse file, devices."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from clitools import REPO, docker, gsc, image_exists

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_ready")]

APP = r"""cat "/data/with space" "/data/quo\"te's" "$(printf '/data/new\nline')"; \
cat /data/empty; tail -c 4 /data/sparse; echo; \
cat "$(printf '/data/bad-\377-utf8')" 2>/dev/null || echo "non-utf8 name refused"; \
cat /etc/x 2>/dev/null || echo "host path unreachable"; \
cat /data/loop-a 2>/dev/null || echo "loop refused"
"""


@pytest.fixture(scope="module")
def odd_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    tag = "gsc-test/odd-app:latest"
    if not image_exists(tag):
        docker("build", "-q", "-t", "gsc-test/odd-base:latest", str(REPO / "tests/images/hostile"))
        ctx = tmp_path_factory.mktemp("odd")
        (ctx / "run.sh").write_text(APP)
        (ctx / "Dockerfile").write_text(
            "FROM gsc-test/odd-base:latest\n"
            "COPY run.sh /app/run.sh\n"
            'ENTRYPOINT ["/bin/sh", "/app/run.sh"]\n'
        )
        docker("build", "-q", "-t", tag, str(ctx))
    return tag


def test_odd_names_survive_manifest_and_runtime(odd_image: str, signing_key: Path) -> None:
    r = gsc("build", odd_image, "-k", signing_key, "--json", "-t", "gsc-test/odd-shielded:1")
    assert r.returncode == 0, r.stderr
    assert "not valid UTF-8" in r.stderr  # the one name TOML cannot hold is reported
    try:
        orig = subprocess.run(["docker", "run", "--rm", odd_image], capture_output=True,
                              timeout=60)
        shielded = subprocess.run(["docker", "run", "--rm", "gsc-test/odd-shielded:1"],
                                  capture_output=True, timeout=60)
        out = shielded.stdout.decode("utf-8", "replace")
        assert "spaced\nquoted\nnl\ntail\n" in out, shielded.stderr
        assert "non-utf8 name refused" in out  # not a trusted file: the runtime denies it
        assert b"bytes" in orig.stdout  # ... while the original image could read it
        assert "host path unreachable" in out and "loop refused" in out
        v = gsc("verify-image", "gsc-test/odd-shielded:1")
        assert v.returncode == 0, v.stderr
    finally:
        docker("rmi", "-f", "gsc-test/odd-shielded:1", check=False)
