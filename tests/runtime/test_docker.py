"""The runtime as the ENTRYPOINT of a real container (FROM gsc-local/busybox), under
Docker's default seccomp profile: measured launch, file policy, docker stop timing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from clitools import docker
from docker_images import removed_afterwards, run_image, runtime_image

pytestmark = pytest.mark.docker
ImageFactory = Callable[[str], str]  # script -> tag


@pytest.fixture
def image_factory(tmp_path: Path, runtime_bin: Path, busybox_sha: str,
                  base_pins: list[dict[str, str]]) -> Iterator[Callable[[str], str]]:
    """image_factory(script) -> tag: busybox running `sh -c script` in /data, with
    /data/t.txt trusted ("trusted"), /data/s.txt neither trusted nor allowed ("secret") and
    /data/rw allowed."""

    def make(script: str) -> str:
        ctx = tmp_path / f"ctx{len(tags)}"
        (ctx / "data" / "rw").mkdir(parents=True)
        (ctx / "data" / "rw" / ".keep").write_text("")
        (ctx / "data" / "t.txt").write_text("trusted\n")
        (ctx / "data" / "s.txt").write_text("secret\n")
        trusted = [{"uri": "file:/bin/busybox", "sha256": busybox_sha},
                   {"uri": "file:/data/t.txt",
                    "sha256": hashlib.sha256(b"trusted\n").hexdigest()}]
        tag = runtime_image(ctx, runtime_bin, entrypoint="/bin/busybox",
                            argv=["sh", "-c", script], trusted=trusted, pins=base_pins,
                            copy=["data"], prefix="gsc-test/runtime-")
        tags.append(tag)
        return tag

    with removed_afterwards() as tags:
        yield make


def test_policy_in_container(image_factory: ImageFactory) -> None:
    tag = image_factory(
        "cat t.txt; cat s.txt; echo x >> t.txt; echo y > rw/f && cat rw/f; "
        "cat /proc/self/status | grep -c ^Uid; exit 5")
    res = run_image(tag)
    assert res.returncode == 5, res.stderr
    assert res.stdout == "trusted\ny\n1\n", res.stderr
    assert "policy: denied open /data/s.txt" in res.stderr
    assert "policy: denied open /data/t.txt" in res.stderr
    assert "secret" not in res.stdout


def test_container_refuses_extra_args_and_tampering(image_factory: ImageFactory) -> None:
    tag = image_factory("echo hi")
    res = run_image(tag, "extra")
    assert res.returncode == 126
    assert res.stderr.startswith("gsc-runtime: launch refused:")
    res = run_image("-e", "GSC_EXPECT_MRSIGNER=" + "ab" * 32, tag)
    assert res.returncode == 126 and "GSC_EXPECT_MRSIGNER" in res.stderr


def test_docker_stop_is_fast(image_factory: ImageFactory) -> None:
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


def test_image_user_kept_and_its_permissions_apply(image_factory: ImageFactory) -> None:
    # /data/rw is root-owned 0755: as uid 1000 the supervisor (root) opens on the app's
    # behalf with the app's fsuid, so the kernel's own permission check still applies.
    tag = image_factory("id -u; cat t.txt; echo y > rw/f; echo rc=$?")
    res = run_image("--user", "1000:1000", tag)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["1000", "trusted", "rc=1"], res.stderr
    assert "Permission denied" in res.stderr
    assert "policy: denied" not in res.stderr  # the kernel said no, not the manifest


@pytest.mark.parametrize("caps", [[], ["--cap-add", "SYS_PTRACE"]], ids=["default", "sys_ptrace"])
def test_supervisor_environment_unreadable_in_phase_2(image_factory: ImageFactory,
                                                      caps: list[str]) -> None:
    """Once every trusted file is verified (phase 2) the kernel answers opens itself: the
    supervisor (PID 1, non-dumpable, outside the app's Landlock domain) keeps its
    environment, which holds variables the manifest does not pass, even when the operator
    granted CAP_SYS_PTRACE (the runtime never gives it to the app)."""
    tag = image_factory("sleep 1; cat /proc/1/environ; echo rc=$?; "
                        "grep -c CapEff /proc/self/status")
    res = run_image(*caps, "-e", "HOST_SECRET=s3cr3t-value", tag)
    assert res.returncode == 0, res.stderr
    assert "s3cr3t-value" not in res.stdout + res.stderr
    assert "rc=1" in res.stdout, (res.stdout, res.stderr)
