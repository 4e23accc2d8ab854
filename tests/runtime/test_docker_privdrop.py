"""Privilege drops (issue 10) in a real container under Docker's default capabilities (no
--cap-add: no CAP_SYS_PTRACE): an image shielded with `gsc build` whose root entrypoint
drops to nobody with setpriv, then runs a program (exec) or forks one."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from clitools import docker, gsc

BASE = "gsc-local/debian:bookworm"
pytestmark = pytest.mark.docker

DROP = "setpriv --reuid=65534 --regid=65534 --clear-groups"
SCRIPTS = {
    # gosu-style: the entrypoint's process drops and becomes the program
    "exec": f"#!/bin/sh\nexec {DROP} cat /etc/os-release\n",
    # a root parent forks a child that drops; the child forks again (sh runs id, head);
    # the parent goes on as root afterwards
    "fork": (f"#!/bin/sh\n{DROP} /bin/sh -c 'id -u; head -n 1 /etc/os-release'\n"
             "echo \"parent $(id -u)\"\n"),
}


@pytest.fixture(scope="module")
def shielded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.skip("Docker Engine not available")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        pytest.skip(f"{BASE} missing (scripts/build-base-images)")
    d = tmp_path_factory.mktemp("privdrop")
    key = d / "key.pem"
    assert gsc("gen-key", str(key)).returncode == 0
    tags: dict[str, str] = {}
    made: list[str] = []
    try:
        for name, script in SCRIPTS.items():
            ctx = d / name
            ctx.mkdir()
            (ctx / "entry.sh").write_text(script)
            (ctx / "Dockerfile").write_text(
                f"FROM {BASE}\nCOPY entry.sh /entry.sh\nRUN chmod 755 /entry.sh\n"
                'ENTRYPOINT ["/entry.sh"]\n')
            src = f"gsc-test-r3/privdrop-{name}-{uuid.uuid4().hex[:8]}:latest"
            docker("build", "-q", "-t", src, str(ctx))
            made.append(src)
            out = f"gsc-test-r3/privdrop-{name}-shielded-{uuid.uuid4().hex[:8]}:latest"
            r = gsc("build", src, "-k", str(key), "--date", "2026-01-02", "-q", "-t", out)
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


def test_drop_then_exec(shielded: dict[str, str]) -> None:
    orig, res = run(shielded["exec-src"]), run(shielded["exec"])
    assert orig.returncode == 0 and "Debian GNU/Linux 12" in orig.stdout, orig.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == orig.stdout
    assert "cannot be inspected" not in res.stderr


def test_drop_in_forked_children(shielded: dict[str, str]) -> None:
    orig, res = run(shielded["fork-src"]), run(shielded["fork"])
    assert orig.stdout.splitlines()[0] == "65534", orig.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == orig.stdout
    assert res.stdout.splitlines() == ["65534", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
                                       "parent 0"]
