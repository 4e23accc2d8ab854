"""connect() and executable mappings inside a real container under Docker's default
seccomp profile, which refuses pidfd_getfd without CAP_SYS_PTRACE (so the supervisor
cannot take the app's descriptors): TCP to a listener in the container (blocking and
non-blocking), an allowed unix socket (data flows, also from a process that dropped to
another user), a denied one (refused, nothing reaches it), LD_PRELOAD of an allowed
library (not loaded) and a trusted program's own libraries (loaded)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from docker_images import removed_afterwards, run_image, runtime_image
from rt_bundle import public_dir
from test_supervisor_connect import Listener

pytestmark = pytest.mark.docker
HERE = Path(__file__).resolve().parent
ProbeImage = Callable[[str, list[str]], str]  # (entrypoint, argv) -> tag


def _libs() -> dict[str, Path]:
    out = subprocess.run(["ldd", "/bin/true"], capture_output=True, text=True,
                         check=True).stdout
    found: dict[str, Path] = {}
    for line in out.splitlines():
        parts = line.split()
        if "libc.so.6" in line:
            found["libc.so.6"] = Path(parts[2]).resolve()
        elif "ld-linux" in line:
            found["ld.so"] = Path(parts[0]).resolve()
    return found


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probes")
    subprocess.run(["gcc", "-O1", "-static", "-o", str(d / "sprobe"),
                    str(HERE / "supervisor_probe.c")], check=True)
    (d / "dyn.c").write_text('#include <stdio.h>\nint main(void){puts("program-ran");'
                             'return 0;}\n')
    subprocess.run(["gcc", "-O1", "-o", str(d / "dyn"), str(d / "dyn.c"),
                    "-Wl,--dynamic-linker=/probe/ld.so", "-Wl,-rpath,/probe",
                    "-Wl,--disable-new-dtags"], check=True)
    (d / "x.c").write_text('#include <unistd.h>\n__attribute__((constructor)) static void '
                           'f(void){ write(1, "INJECTED\\n", 9); }\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(d / "x.so"), str(d / "x.c")],
                   check=True)
    (d / "t.bin").write_bytes(b"\xc3" * 4096)
    libs = _libs()
    return {"sprobe": d / "sprobe", "dyn": d / "dyn", "x.so": d / "x.so",
            "t.bin": d / "t.bin", "ld.so": libs["ld.so"], "libc.so.6": libs["libc.so.6"]}


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def probe_image(tmp_path: Path, runtime_bin: Path, busybox_sha: str,
                base_pins: list[dict[str, str]],
                probes: dict[str, Path]) -> Iterator[ProbeImage]:
    """probe_image(entrypoint, argv) -> tag: busybox + /probe/{sprobe,dyn,ld.so,libc.so.6,
    t.bin} (trusted), /data/rw (allowed, holds x.so), /dev/null and /proc allowed."""

    def make(entrypoint: str, argv: list[str]) -> str:
        ctx = tmp_path / f"ctx{len(tags)}"
        (ctx / "probe").mkdir(parents=True)
        (ctx / "data" / "rw").mkdir(parents=True)
        shutil.copyfile(probes["x.so"], ctx / "data" / "rw" / "x.so")
        trusted = [{"uri": "file:/bin/busybox", "sha256": busybox_sha}]
        for name in ("sprobe", "dyn", "ld.so", "libc.so.6", "t.bin"):
            shutil.copyfile(probes[name], ctx / "probe" / name)
            (ctx / "probe" / name).chmod(0o755)
            trusted.append({"uri": f"file:/probe/{name}", "sha256": _sha(probes[name])})
        tag = runtime_image(ctx, runtime_bin, entrypoint=entrypoint, argv=argv,
                            trusted=trusted, pins=base_pins, copy=["data", "probe"],
                            prefix="gsc-test/r4-connect-")
        tags.append(tag)
        return tag

    with removed_afterwards() as tags:
        yield make


@pytest.fixture
def denied_dir() -> Iterator[Path]:
    with public_dir("r4d-") as d:
        yield d


def _results(stdout: str) -> dict[str, str]:
    return dict(line.rsplit(" => ", 1) for line in stdout.splitlines() if " => " in line)


def test_connects_in_container_default_profile(probe_image: ProbeImage, denied_dir: Path) -> None:
    cmds = ["serve-unix /data/rw/s", "serve-tcp 8099", "tcp-echo 8099", "tcp-echo-nb 8099",
            "connect-tcp 8098", "connect-tcp-nb 8098", "unix-echo /data/rw/s",
            "unix-props /data/rw/s", "unix-dgram /data/rw/absent", "unix-echo /denied/s",
            "connect-unix /denied/s",
            # gosu/nginx-style: root drops to 1000 and execs (dumpable, another user)
            "drop-exec 1000 /probe/sprobe unix-echo+/data/rw/s tcp-echo-nb+8099 "
            "unix-echo+/denied/s"]
    tag = probe_image("/probe/sprobe", ["sprobe", *cmds])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(denied_dir / "s"))
    os.chmod(denied_dir / "s", 0o666)
    lst = Listener(s)
    try:
        res = run_image("-v", f"{denied_dir}:/denied", tag)
    finally:
        lst.close()
    assert res.returncode == 0, res.stderr
    out = _results(res.stdout)
    for c in [*cmds[:4], "unix-echo /data/rw/s", "unix-props /data/rw/s"]:
        assert out[c] == "OK", (c, res.stdout, res.stderr)
    assert out["connect-tcp 8098"] == "ECONNREFUSED", res.stderr
    assert out["connect-tcp-nb 8098"] == "ECONNREFUSED", res.stderr
    assert out["unix-dgram /data/rw/absent"] == "ENOENT", res.stderr
    assert out["unix-echo /denied/s"] == "EACCES", res.stderr
    assert out["connect-unix /denied/s"] == "EACCES", res.stderr
    assert out["unix-echo+/data/rw/s"] == "OK", (res.stdout, res.stderr)
    assert out["tcp-echo-nb+8099"] == "OK", (res.stdout, res.stderr)
    assert out["unix-echo+/denied/s"] == "EACCES", (res.stdout, res.stderr)
    assert lst.accepted == 0 and lst.received == []
    assert "policy: denied connect to /denied/s" in res.stderr
    assert "cannot be inspected" not in res.stderr


def test_exec_mappings_in_container_default_profile(probe_image: ProbeImage) -> None:
    script = ("/probe/dyn; echo rc=$?; LD_PRELOAD=/data/rw/x.so /probe/dyn; "
              "/probe/sprobe 'drop-exec 1000 /probe/dyn'; "
              "/probe/sprobe drop+1000 mmap-exec+/probe/t.bin; "
              "/probe/sprobe mmap-exec+//probe/t.bin mmap-exec+/data/rw/x.so")
    tag = probe_image("/bin/busybox", ["sh", "-c", script])
    res = run_image(tag)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    # the trusted program's own libraries load; the allowed library is not loaded
    assert lines[:3] == ["program-ran", "rc=0", "program-ran"], (res.stdout, res.stderr)
    assert "INJECTED" not in res.stdout
    assert "PROT_EXEC of" in res.stderr and "not a trusted file" in res.stderr
    # after a drop and exec (dumpable, another user): identified as the owner, loads
    assert lines.count("program-ran") == 3, (res.stdout, res.stderr)
    out = _results(res.stdout)
    # after a drop without exec (not dumpable): cannot be inspected, refused (fail closed)
    assert out["drop+1000"] == "OK", res.stdout
    assert out["mmap-exec+/probe/t.bin"] == "EACCES", (res.stdout, res.stderr)
    assert "cannot be inspected" in res.stderr
    # as root: a trusted file maps executable, an allowed one does not
    assert out["mmap-exec+//probe/t.bin"] == "OK", (res.stdout, res.stderr)
    assert out["mmap-exec+/data/rw/x.so"] == "EACCES", res.stderr
