"""Images that run as a non-root USER (Java images, many others) in a real container:
trusted files this user cannot read (Debian's /etc/default/cacerts is root 0600) are not
verification failures, because the app cannot read them either and cannot make itself
able to (not the owner, no capabilities); a file the user owns stays a failure when
unreadable, because its owner can chmod it and read it."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from clitools import docker, gsc

BASE = "gsc-local/debian:bookworm"
pytestmark = pytest.mark.docker

# The app: what it can read, then long enough alive for the background verifier to finish.
SCRIPT = ("cat /srv/root-only.txt 2>/dev/null || echo root-only: refused; "
          "cat /srv/mine.txt 2>/dev/null || echo mine: refused; sleep 3; echo done")
IMAGES = {
    "root-only": "RUN echo secret > /srv/root-only.txt && chmod 600 /srv/root-only.txt\n",
    "own-0000": ("RUN echo mine > /srv/mine.txt && chown app:app /srv/mine.txt "
                 "&& chmod 000 /srv/mine.txt\n"),
}


@pytest.fixture(scope="module")
def shielded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.skip("Docker Engine not available")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        pytest.skip(f"{BASE} missing (scripts/build-base-images)")
    d = tmp_path_factory.mktemp("nonroot")
    key = d / "key.pem"
    assert gsc("gen-key", str(key)).returncode == 0
    tags: dict[str, str] = {}
    made: list[str] = []
    try:
        for name, step in IMAGES.items():
            ctx = d / name
            ctx.mkdir()
            (ctx / "Dockerfile").write_text(
                f"FROM {BASE}\nRUN useradd --system --uid 999 app\n{step}USER app\n"
                f'CMD ["/bin/sh", "-c", "{SCRIPT}"]\n')
            src = f"gsc-test-java/nonroot-{name}-{uuid.uuid4().hex[:8]}:latest"
            docker("build", "-q", "-t", src, str(ctx))
            made.append(src)
            out = f"gsc-test-java/nonroot-{name}-shielded-{uuid.uuid4().hex[:8]}:latest"
            r = gsc("build", src, "-k", str(key), "--debug", "-q", "-t", out)
            assert r.returncode == 0, r.stderr
            made.append(out)
            tags[name] = out
            tags[name + "-src"] = src
        yield tags
    finally:
        for t in made:
            docker("rmi", "-f", t, check=False)


def run(image: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "run", "--rm", image], capture_output=True, text=True,
                          timeout=120, check=False)


def test_file_unreadable_for_the_user_is_no_failure(shielded: dict[str, str]) -> None:
    orig, res = run(shielded["root-only-src"]), run(shielded["root-only"])
    assert orig.returncode == 0 and "root-only: refused" in orig.stdout, orig.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == orig.stdout, res.stderr
    assert "failed verification" not in res.stderr, res.stderr
    assert "every trusted file checked (all verified); phase 2" in res.stderr, res.stderr


def test_unreadable_file_the_user_owns_stays_a_failure(shielded: dict[str, str]) -> None:
    """Its owner could chmod it readable: left unhashed, phase 2 would let the app read
    content nobody checked. It keeps the verifier's failure (and phase 1)."""
    orig, res = run(shielded["own-0000-src"]), run(shielded["own-0000"])
    assert orig.returncode == 0 and "mine: refused" in orig.stdout, orig.stderr
    assert res.stdout == orig.stdout, res.stderr
    assert "trusted file /srv/mine.txt failed verification (Permission denied)" in res.stderr
    assert "phase 2" not in res.stderr, res.stderr
