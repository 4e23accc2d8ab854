"""Fixtures for the runtime process tests: a freshly built runtime, the in-repo test
vectors, and a factory of signed bundles in temp directories."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docker_images import BUSYBOX, image_file, need_image
from rt_bundle import (
    ASAN_RUNTIME,
    REPO,
    RUNTIME,
    VECTORS,
    Bundle,
    MakeBundle,
    base_manifest,
    dev_key,
    elf_closure,
)


@pytest.fixture
def tmp_path(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A private directory per test, outside pytest's shared /tmp/pytest-of-USER: the
    runtime pins the symlinks of every directory above a trusted file at launch, and
    /tmp/pytest-of-USER/pytest-current is retargeted whenever any pytest session on the
    machine starts (a real namespace change, which the runtime rightly refuses)."""
    base = Path(os.environ.get("GSC_RT_TMP", "/var/tmp")) / f"gsc-rt-{os.getuid()}-{os.getpid()}"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40]
    d = Path(tempfile.mkdtemp(prefix=name + "-", dir=base))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _make_runtime(target: str, built: Path) -> Path:
    res = subprocess.run(["make", "-s", "-C", str(REPO / "runtime"), target],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.fail(f"building the runtime (make {target}) failed:\n{res.stdout}\n{res.stderr}")
    return built


@pytest.fixture(scope="session")
def runtime_bin() -> Path:
    return _make_runtime("runtime", RUNTIME)


@pytest.fixture(scope="session")
def asan_runtime() -> Path:
    """The runtime built with ASan and UBSan."""
    return _make_runtime("asan", ASAN_RUNTIME)


@pytest.fixture(scope="session")
def shared() -> Path:
    return VECTORS


@pytest.fixture(scope="session")
def host_tools() -> list[str]:
    """Host programs the tests run under the runtime, with their libraries."""
    return [*elf_closure(["/bin/sh", "/bin/cat", "/bin/rm", "/bin/ln", "/bin/mv",
                          "/bin/sleep", "/bin/echo", "/bin/mkdir"]), "/etc/ld.so.cache"]


@pytest.fixture
def make_bundle(tmp_path: Path, runtime_bin: Path, shared: Path,
                host_tools: list[str]) -> MakeBundle:
    """make_bundle(script=None, entrypoint=..., argv=..., trusted=[...], allowed=[...],
    **manifest options) -> a written Bundle in tmp_path. With `script`, the app is
    `sh -c script` and the working directory is tmp_path."""

    def make(script: str | None = None, *, trusted: list[str] | None = None,
             allowed: list[str] | None = None,
             tweak: Callable[[dict[str, Any]], None] | None = None,
             runtime_src: Path | None = None, **kw: Any) -> Bundle:
        if script is not None:
            kw.setdefault("entrypoint", "/bin/sh")
            kw.setdefault("argv", ["sh", "-c", script])
        kw.setdefault("start_dir", str(tmp_path))
        entry = kw.pop("entrypoint")
        doc = base_manifest(entry, [*host_tools, *(trusted or [])],
                            ["/dev/null", *(allowed or [])], **kw)
        if tweak:
            tweak(doc)
        return Bundle(tmp_path, doc, dev_key(),
                      runtime_src=runtime_src or runtime_bin).write()

    return make


# seccomp_refuse.c's arguments before the program: the call's number (the same on every
# architecture for calls added since Linux 5.1) and the errno it fails with
PIDFD_GETFD_EPERM = ("438", str(errno.EPERM), "--")
LANDLOCK_ENOSYS = ("444", str(errno.ENOSYS), "--")


@pytest.fixture(scope="session")
def seccomp_refuse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """seccomp_refuse NR ERRNO -- PROGRAM [ARGS...]: runs PROGRAM with one call refused."""
    exe = tmp_path_factory.mktemp("seccomp_refuse") / "seccomp_refuse"
    subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-o", str(exe),
                    str(Path(__file__).resolve().parent / "seccomp_refuse.c")], check=True)
    return str(exe)


@pytest.fixture(scope="session")
def nolandlock(seccomp_refuse: str) -> tuple[str, ...]:
    """A command prefix that runs a program as on a kernel without Landlock
    (landlock_create_ruleset fails with ENOSYS)."""
    return (seccomp_refuse, *LANDLOCK_ENOSYS)


@pytest.fixture(scope="session")
def nogetfd(seccomp_refuse: str) -> tuple[str, ...]:
    """A command prefix that runs a program with pidfd_getfd refused (EPERM), as Docker's
    default seccomp profile refuses it to a container without CAP_SYS_PTRACE."""
    return (seccomp_refuse, *PIDFD_GETFD_EPERM)


# ------------------------------------------------ busybox images (test_docker*.py)

BUSYBOX_TRUSTED = ("/bin/busybox", "/data/t.txt")


@pytest.fixture(scope="session")
def busybox_sha(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sha256 of the base image's /bin/busybox (skips, capability docker, without the
    engine or the image)."""
    need_image(BUSYBOX)
    data = image_file(BUSYBOX, "/bin/busybox", tmp_path_factory.mktemp("bb") / "busybox")
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def base_pins(busybox_sha: str) -> list[dict[str, str]]:
    """gsc.symlinks as gsc build records them (gsc.shield.namespace) for the trusted files
    BUSYBOX_TRUSTED, read from the base image (the COPYed /data holds no symlink)."""
    from gsc.image.loader import DaemonSource
    from gsc.shield import namespace

    with DaemonSource(BUSYBOX, pull=False).open() as image:
        pin = namespace.pin(image.fs, namespace.Rules(BUSYBOX_TRUSTED, (), (), ()))
    return pin.manifest_value()
