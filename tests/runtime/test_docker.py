"""The runtime as the ENTRYPOINT of a real container (FROM gsc-local/busybox), under
Docker's default seccomp profile: measured launch, file policy, docker stop timing."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from capabilities import need
from rt_bundle import DATE, dev_key, manifest_bytes

from gsc.sgx.sigstruct import sign_enclave

BASE = "gsc-local/busybox:latest"
pytestmark = pytest.mark.docker


def docker(*args: str, timeout: float = 120,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=check)


def image_file(image: str, path: str, dest: Path) -> bytes:
    """Copy a file out of an image without running anything from it."""
    cid = docker("create", image).stdout.strip()
    try:
        docker("cp", "-L", f"{cid}:{path}", str(dest))
    finally:
        docker("rm", "-f", cid, check=False)
    return dest.read_bytes()


@pytest.fixture(scope="module")
def busybox_sha(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        need("docker", False, "Docker Engine not available")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        need("docker", False, f"{BASE} missing (scripts/build-base-images)")
    data = image_file(BASE, "/bin/busybox", tmp_path_factory.mktemp("bb") / "busybox")
    return hashlib.sha256(data).hexdigest()


TRUSTED = ("/bin/busybox", "/data/t.txt")


@pytest.fixture(scope="module")
def base_pins(busybox_sha: str) -> list[dict[str, str]]:
    """gsc.symlinks as gsc build records them (gsc.shield.namespace) for the trusted files
    below, read from the base image (the COPYed /data holds no symlink)."""
    from gsc.image.loader import DaemonSource
    from gsc.shield import namespace

    with DaemonSource(BASE, pull=False).open() as image:
        pin = namespace.pin(image.fs, namespace.Rules(TRUSTED, (), (), ()))
    return pin.manifest_value()


def build_image(ctx: Path, runtime_bin: Path, busybox_sha: str, script: str,
                pins: list[dict[str, str]]) -> str:
    (ctx / "gsc").mkdir(parents=True)
    (ctx / "data" / "rw").mkdir(parents=True)
    (ctx / "data" / "rw" / ".keep").write_text("")
    (ctx / "data" / "t.txt").write_text("trusted\n")
    (ctx / "data" / "s.txt").write_text("secret\n")
    shutil.copyfile(runtime_bin, ctx / "gsc" / "gsc-runtime")
    (ctx / "gsc" / "gsc-runtime").chmod(0o755)
    doc = {
        "libos": {"entrypoint": "/bin/busybox"},
        "loader": {"argv": ["sh", "-c", script], "log_level": "error",
                   "env": {"PATH": "/bin"}},
        "fs": {"start_dir": "/data"},
        "sgx": {
            "enclave_size": "256M",
            "trusted_files": [
                {"uri": "file:/bin/busybox", "sha256": busybox_sha},
                {"uri": "file:/data/t.txt",
                 "sha256": hashlib.sha256(b"trusted\n").hexdigest()},
            ],
            "allowed_files": ["file:/data/rw", "file:/dev/null", "file:/proc"],
        },
        "gsc": {"symlinks": pins},
    }
    data = manifest_bytes(doc)
    (ctx / "gsc" / "entrypoint.manifest.sgx").write_bytes(data)
    (ctx / "gsc" / "entrypoint.sig").write_bytes(
        sign_enclave(data, (ctx / "gsc" / "gsc-runtime").read_bytes(), dev_key(), DATE))
    (ctx / "Dockerfile").write_text(
        f"FROM {BASE}\nCOPY data/ /data/\nCOPY gsc/ /gsc/\n"
        'ENTRYPOINT ["/gsc/gsc-runtime"]\n')
    tag = f"gsc-test/runtime-{uuid.uuid4().hex[:12]}"
    docker("build", "-q", "-t", tag, str(ctx), timeout=300)
    return tag


@pytest.fixture
def image_factory(tmp_path: Path, runtime_bin: Path,
                  busybox_sha: str, base_pins: list[dict[str, str]]) -> Iterator[object]:
    tags: list[str] = []

    def make(script: str) -> str:
        tag = build_image(tmp_path / f"ctx{len(tags)}", runtime_bin, busybox_sha, script,
                          base_pins)
        tags.append(tag)
        return tag

    yield make
    for t in tags:
        docker("rmi", "-f", t, check=False)


def test_policy_in_container(image_factory) -> None:  # type: ignore[no-untyped-def]
    tag = image_factory(
        "cat t.txt; cat s.txt; echo x >> t.txt; echo y > rw/f && cat rw/f; "
        "cat /proc/self/status | grep -c ^Uid; exit 5")
    res = docker("run", "--rm", tag, check=False)
    assert res.returncode == 5, res.stderr
    assert res.stdout == "trusted\ny\n1\n", res.stderr
    assert "policy: denied open /data/s.txt" in res.stderr
    assert "policy: denied open /data/t.txt" in res.stderr
    assert "secret" not in res.stdout


def test_container_refuses_extra_args_and_tampering(image_factory) -> None:  # type: ignore[no-untyped-def]
    tag = image_factory("echo hi")
    res = docker("run", "--rm", tag, "extra", check=False)
    assert res.returncode == 126
    assert res.stderr.startswith("gsc-runtime: launch refused:")
    res = docker("run", "--rm", "-e", "GSC_EXPECT_MRSIGNER=" + "ab" * 32, tag, check=False)
    assert res.returncode == 126 and "GSC_EXPECT_MRSIGNER" in res.stderr


def test_docker_stop_is_fast(image_factory) -> None:  # type: ignore[no-untyped-def]
    tag = image_factory("while :; do sleep 1; done")
    cid = docker("run", "-d", tag).stdout.strip()
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        docker("stop", "-t", "10", cid, timeout=30)
        took = time.monotonic() - t0
        code = docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip()
    finally:
        docker("rm", "-f", cid, check=False)
    assert took < 3, f"docker stop took {took:.1f}s"
    assert code == "143"


def test_image_user_kept_and_its_permissions_apply(image_factory) -> None:  # type: ignore[no-untyped-def]
    # /data/rw is root-owned 0755: as uid 1000 the supervisor (root) opens on the app's
    # behalf with the app's fsuid, so the kernel's own permission check still applies.
    tag = image_factory("id -u; cat t.txt; echo y > rw/f; echo rc=$?")
    res = docker("run", "--rm", "--user", "1000:1000", tag, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["1000", "trusted", "rc=1"], res.stderr
    assert "Permission denied" in res.stderr
    assert "policy: denied" not in res.stderr  # the kernel said no, not the manifest
