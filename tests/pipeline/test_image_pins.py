"""Issue 8, item 1: derived images (FROM a shielded image) that change only the namespace
or the config. `gsc verify-image` must fail, with and without MRENCLAVE/MRSIGNER pins; a
namespace change must also refuse the launch. Real Docker Engine; the derived images are
built with `docker build`, their RUN lines use the original image's /bin/sh."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import build_example, docker, gsc

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]

RUN_ID = os.getpid()   # tags unique to this run: parallel runs never share an image
SHIELDED = f"gsc-test/pins-python:{RUN_ID}"

# name -> (Dockerfile lines after FROM, what verify-image must name, refused at launch)
DERIVED = {
    "preload": ("RUN ln -s /tmp/x /etc/ld.so.preload",
                "/etc/ld.so.preload is a symlink the manifest does not pin", True),
    "os-release": ("RUN ln -sfn /tmp/fake /etc/os-release",
                   "symlink /etc/os-release points to '/tmp/fake'", True),
    "no-bin": ("RUN [\"/usr/bin/rm\", \"/bin\"]", "pinned symlink /bin is missing", True),
    "healthcheck": ("HEALTHCHECK CMD cat /etc/shadow", "config Healthcheck is", False),
    "env": ("ENV LD_PRELOAD=/tmp/x", "config Env is", False),
    "user": ("USER nobody", "config User is \"nobody\"", False),
    "entrypoint": ("ENTRYPOINT [\"/gsc/gsc-runtime\", \"x\"]", "config Entrypoint is", False),
    "cmd": ("CMD [\"-c\", \"id\"]", "config Cmd is", False),
    "volume": ("VOLUME /usr/lib", "config Volumes is", False),
    "stopsignal": ("STOPSIGNAL SIGKILL", "config StopSignal is", False),
    "workdir": ("WORKDIR /tmp", "config WorkingDir is", False),
    "onbuild": ("ONBUILD RUN true", "config OnBuild is", False),
}


@pytest.fixture(scope="module")
def shielded(signing_key: Path) -> Iterator[dict[str, object]]:
    src = build_example("python")
    r = gsc("build", src, "-k", signing_key, "-t", SHIELDED, "--json", "-q")
    assert r.returncode == 0, r.stderr
    yield r.json()
    docker("rmi", "-f", SHIELDED, check=False)


@pytest.fixture(scope="module")
def derived(shielded: dict[str, object]) -> Iterator[dict[str, str]]:
    tags: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as d:
        for name, (lines, _, _) in DERIVED.items():
            tag = f"gsc-test/pins-derived-{name}:{RUN_ID}"
            (Path(d) / "Dockerfile").write_text(f"FROM {SHIELDED}\n{lines}\n")
            docker("build", "-q", "-t", tag, d, timeout=300)
            tags[name] = tag
    yield tags
    for tag in tags.values():
        docker("rmi", "-f", tag, check=False)


def test_the_shielded_image_verifies_and_launches(shielded: dict[str, object]) -> None:
    r = gsc("verify-image", SHIELDED, "--mrenclave", str(shielded["mrenclave"]),
            "--mrsigner", str(shielded["mrsigner"]))
    assert r.returncode == 0, r.stdout + r.stderr
    run = docker("run", "--rm", SHIELDED, check=False)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_verify_image_names_the_change_with_and_without_pins(
        name: str, shielded: dict[str, object], derived: dict[str, str]) -> None:
    _, expected, _ = DERIVED[name]
    pins = ["--mrenclave", str(shielded["mrenclave"]), "--mrsigner", str(shielded["mrsigner"])]
    for extra in ([], pins):
        r = gsc("verify-image", derived[name], *extra)
        assert r.returncode == 1, r.stdout + r.stderr
        assert expected in r.stdout, r.stdout
    j = gsc("verify-image", derived[name], *pins, "--json")
    assert j.returncode == 1
    assert any(expected in p for p in j.json()["problems"])  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(n for n, v in DERIVED.items() if v[2]))
def test_a_namespace_change_refuses_the_launch(name: str, shielded: dict[str, object],
                                               derived: dict[str, str]) -> None:
    run = subprocess.run(
        ["docker", "run", "--rm", "-e", f"GSC_EXPECT_MRENCLAVE={shielded['mrenclave']}",
         "-e", f"GSC_EXPECT_MRSIGNER={shielded['mrsigner']}", derived[name]],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 126, run.stdout + run.stderr
    assert "gsc-runtime: launch refused: namespace changed" in run.stderr, run.stderr


def test_a_healthcheck_in_the_input_image_is_warned_about(signing_key: Path) -> None:
    src = f"gsc-test/pins-health-src:{RUN_ID}"
    out = f"gsc-test/pins-health:{RUN_ID}"
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "Dockerfile").write_text(
            f"FROM {build_example('hello')}\nHEALTHCHECK CMD [\"/bin/true\"]\n")
        docker("build", "-q", "-t", src, d, timeout=300)
    try:
        r = gsc("build", src, "-k", signing_key, "-t", out, "--json")
        assert r.returncode == 0, r.stderr
        assert any("HEALTHCHECK" in w for w in r.json()["warnings"])  # type: ignore[union-attr]
        assert "HEALTHCHECK" in r.stderr
        ok = gsc("verify-image", out)
        assert ok.returncode == 0, ok.stdout   # the pinned config includes the health check
    finally:
        docker("rmi", "-f", out, src, check=False)
