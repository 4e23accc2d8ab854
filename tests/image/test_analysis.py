"""Entrypoint analysis against the images' own loaders (ldd / musl ld --list)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from gsc.analysis import analyze, analyze_program
from gsc.image import Image

pytestmark = pytest.mark.docker


def _ldd(image: str, loader: list[str], prog: str) -> set[str]:
    proc = subprocess.run(["docker", "run", "--rm", "--entrypoint", loader[0], image,
                           *loader[1:], prog], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = set()
    for line in proc.stdout.splitlines():
        line = line.strip()
        path = line.split("=>", 1)[1] if "=>" in line else line
        path = path.split("(", 1)[0].strip()
        if path.startswith("/"):
            out.add(path)
    return out


def _closure_paths(a: Any) -> set[str]:
    paths = {lib.path for lib in a.libraries}
    if a.entrypoint.elf_interpreter:
        paths.add(a.entrypoint.elf_interpreter)
    return paths


def _canon(img: Image, paths: set[str]) -> set[str]:
    return {img.fs.resolve(p) or p for p in paths}


def test_python_script_via_env(loaded: Any, test_image: Any) -> None:
    img: Image = loaded("pyapp")
    a = analyze(img)
    assert a.argv == ["./run", "--greeting", "hello"]
    assert a.workdir == "/srv/app"
    assert a.entrypoint.path == "/srv/app/run"
    assert a.entrypoint.kind == "script"
    python = img.fs.resolve("/usr/bin/python3")
    assert a.entrypoint.interpreters == ["/usr/bin/env", python]
    assert a.missing == []
    want = _canon(img, _ldd(test_image("pyapp"), ["ldd"], "/usr/bin/python3"))
    assert _closure_paths(a) == want
    # env's own libraries are reported per program
    env_prog = next(p for p in a.programs if p["path"] == "/usr/bin/env")
    want_env = _canon(img, _ldd(test_image("pyapp"), ["ldd"], "/usr/bin/env"))
    assert {lib["path"] for lib in env_prog["libraries"]} | {env_prog["elf_interpreter"]} \
        == want_env


def test_origin_runpath(loaded: Any, test_image: Any) -> None:
    img: Image = loaded("cdyn")
    a = analyze(img)
    assert a.argv == ["/app/hello-link", "world"]
    assert a.entrypoint.path == "/app/bin/hello"
    assert a.entrypoint.kind == "elf-dynamic"
    assert ("libgreet.so.1", "/app/lib/libgreet.so.1.0") in {(x.name, x.path)
                                                             for x in a.libraries}
    want = _canon(img, _ldd(test_image("cdyn"), ["ldd"], "/app/bin/hello"))
    assert _closure_paths(a) == want
    assert a.missing == []


def test_origin_library_removed_is_missing(loaded: Any) -> None:
    img: Image = loaded("cdyn")
    entries = img.fs._entries
    saved = entries.pop("/app/lib/libgreet.so.1.0")
    try:
        a = analyze_program(img.fs, ["/app/bin/hello"], img.config.env)
        assert any("libgreet.so.1" in m for m in a.missing)
    finally:
        entries["/app/lib/libgreet.so.1.0"] = saved


def test_musl(loaded: Any, test_image: Any) -> None:
    img: Image = loaded("musl")
    a = analyze(img)
    assert (a.entrypoint.path, a.entrypoint.kind, a.libraries, a.missing) == (
        "/app/static", "elf-static", [], [])
    pie = analyze_program(img.fs, ["/app/static-pie"], {})
    assert pie.entrypoint.kind == "elf-static" and pie.missing == []
    dyn = analyze_program(img.fs, ["/app/dyn"], {})
    assert dyn.entrypoint.kind == "elf-dynamic"
    assert dyn.entrypoint.elf_interpreter == "/lib/ld-musl-x86_64.so.1"
    want = _canon(img, _ldd(test_image("musl"), ["/lib/ld-musl-x86_64.so.1", "--list"],
                            "/app/dyn"))
    assert _closure_paths(dyn) == want
    assert "/opt/mlib/libmgreet.so" in want


def test_static_busybox(loaded: Any) -> None:
    a = analyze(loaded("static-busybox"))
    assert a.argv == ["sh", "-c", "echo hi"]
    assert (a.entrypoint.path, a.entrypoint.kind) == ("/bin/busybox", "elf-static")
    assert a.libraries == [] and a.missing == []


def test_user_split_entrypoint(loaded: Any) -> None:
    a = analyze(loaded("userapp"))
    assert a.argv == ["/app/server", "--port", "8080"]
    assert a.user == "1000:1000"
    assert a.env == {"PATH": "/app:/bin", "GREETING": "hi there"}
    assert a.entrypoint.kind == "script"
    assert a.entrypoint.interpreters == ["/bin/busybox"]
    assert a.programs[0]["interpreter_arg"] == "-e"
    # bare name through the image's PATH
    b = analyze_program(loaded("userapp").fs, ["server"], a.env, "/")
    assert b.entrypoint.path == "/app/server"


def test_hostile_entrypoint_missing(loaded: Any) -> None:
    a = analyze(loaded("hostile"))
    assert a.entrypoint.path is None and a.missing
    loop = analyze_program(loaded("hostile").fs, ["/app/loop"], {})
    assert loop.missing


def _gsc(*args: str) -> subprocess.CompletedProcess[str]:
    # -P: the installed gsc, never the one in the current directory.
    return subprocess.run([sys.executable, "-P", "-m", "gsc", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_inspect(test_image: Any) -> None:
    ok = _gsc("inspect", test_image("cdyn"), "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert set(doc) >= {"image", "argv", "env", "workdir", "user", "entrypoint", "libraries",
                        "missing", "files"}
    assert set(doc["entrypoint"]) >= {"path", "kind", "interpreters", "elf_interpreter"}
    assert set(doc["files"]) == {"regular", "symlink", "dir", "other", "bytes"}
    assert doc["entrypoint"]["kind"] == "elf-dynamic"
    bad = _gsc("inspect", test_image("hostile"), "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["missing"]
    human = _gsc("inspect", test_image("userapp"))
    # Results on stdout (so `gsc inspect X | grep ...` works), nothing else on stderr.
    assert human.returncode == 0 and "/app/server" in human.stdout and human.stderr == ""
    nope = _gsc("inspect", "gsc-test/does-not-exist:nope", "--no-pull")
    assert nope.returncode == 2
    assert nope.stderr.startswith("gsc: error:") and nope.stderr.count("\n") == 1
