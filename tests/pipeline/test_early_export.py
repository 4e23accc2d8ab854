"""The early export of `gsc build` (gsc/early_export.py, docs/build.md "Timing"): the
`docker save` request sent before the heavy imports, read by the image loader; the usual
path whenever it cannot help, with the usual messages."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clitools import build_example, docker, gsc

from gsc import cli, early_export, engine
from gsc.image.sources import open_source

DATE = "2026-01-02"
DOCKER_SOCKET = "/var/run/docker.sock"


# -- without Docker: where the request goes and what it says -------------------------------

@pytest.mark.parametrize(
    ("host", "path"),
    [
        (None, "/var/run/docker.sock"),
        ("", "/var/run/docker.sock"),
        ("unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"),
        ("unix://relative.sock", None),
        ("tcp://127.0.0.1:2375", None),
        ("ssh://user@host", None),
        ("npipe:////./pipe/docker_engine", None),
    ],
)
def test_socket_path_follows_docker_host(host: str | None, path: str | None) -> None:
    env = {} if host is None else {"DOCKER_HOST": host}
    assert early_export.socket_path(env) == path


def test_request_quotes_the_reference_as_docker_py_does() -> None:
    req = early_export.request("reg.example:5000/team/app@sha256:" + "a" * 64)
    assert req.startswith(b"GET /images/reg.example:5000/team/app%40sha256:" + b"a" * 64
                          + b"/get HTTP/1.1\r\n")
    assert req.endswith(b"\r\n\r\n")


def test_no_request_without_a_unix_socket(tmp_path: Path) -> None:
    assert early_export.start("x", {"DOCKER_HOST": "tcp://127.0.0.1:1"}) is None
    missing = tmp_path / "no.sock"
    assert early_export.start("x", {"DOCKER_HOST": f"unix://{missing}"}) is None


def test_an_answer_other_than_200_steps_aside(tmp_path: Path) -> None:
    """A 404 (image not local: it may be pulled) leaves the work to the usual path."""
    path = tmp_path / "engine.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    seen: list[bytes] = []

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            seen.append(conn.recv(4096))
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 39\r\n\r\n"
                         b'{"message":"No such image: nope:1"}\n\n\n\n')

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    export = early_export.start("nope:1", {"DOCKER_HOST": f"unix://{path}"})
    assert export is not None
    assert export.take() is None
    assert export.take() is None   # once only
    export.close()
    t.join(10)
    server.close()
    assert seen and seen[0].startswith(b"GET /images/nope:1/get HTTP/1.1\r\n")


def test_request_is_sent_before_the_heavy_imports(tmp_path: Path) -> None:
    """The point of it: the Engine works while these load."""
    code = (
        "import json, sys\n"
        "from gsc import cli, early_export\n"
        "def start(ref):\n"
        "    heavy = ('docker', 'requests', 'urllib3', 'jinja2', 'cryptography', 'elftools',"
        " 'yaml', 'gsc.engine', 'gsc.shield.pipeline')\n"
        "    print(json.dumps([ref, [m for m in heavy if m in sys.modules]]))\n"
        "    raise SystemExit(0)\n"
        "early_export.start = start\n"
        "cli.main(['build', 'docker-daemon:team/app:1', '-k', 'key.pem', '--json'])\n"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, check=True).stdout
    assert json.loads(out) == ["team/app:1", []]


@pytest.mark.parametrize(
    ("argv", "module"),
    [(["build", "x"], "build"), (["sign-image", "x", "k"], "sign_image"),
     (["sign_image"], None), (["--help"], None), ([], None), (["nope"], None)],
)
def test_only_the_named_command_is_loaded(argv: list[str], module: str | None) -> None:
    assert cli.named_command(argv) == module


def test_each_command_module_registers_its_own_name() -> None:
    for module in cli.COMMANDS:
        parser = cli.build_parser(module)
        sub = next(a for a in parser._actions if a.dest == "command")
        assert list(sub.choices or ()) == [module.replace("_", "-")]


# -- with Docker -----------------------------------------------------------------------------

@pytest.fixture
def engine_over_tcp() -> Iterator[str]:
    """DOCKER_HOST=tcp://127.0.0.1:PORT for the local Engine: a loopback forwarder to its
    Unix socket, so that the same daemon is reached through a transport the early export
    does not use (the usual path only)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(DOCKER_SOCKET)
            for a, b in ((client, upstream), (upstream, client)):
                t = threading.Thread(target=pump, args=(a, b), daemon=True)
                t.start()
                threads.append(t)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        server.join(5)
        listener.close()
        for t in threads:
            t.join(5)


def _build(image: str, key: Path, tag: str, env: dict[str, str] | None = None
           ) -> dict[str, Any]:
    r = gsc("build", image, "-k", key, "--date", DATE, "-t", tag, "--json", "-q", env=env)
    assert r.returncode == 0, r.stderr
    return r.json()


@pytest.mark.parametrize("missing", ["sha256:" + "0" * 64, "127.0.0.1:1/gsc-test/missing:1"])
@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_missing_image_fails_in_one_line_as_through_the_usual_path(
        missing: str, signing_key: Path, engine_over_tcp: str) -> None:
    early = gsc("build", missing, "-k", signing_key, "-q")
    usual = gsc("build", missing, "-k", signing_key, "-q",
                env={"DOCKER_HOST": engine_over_tcp})
    for r in (early, usual):
        assert r.returncode == 2, r.stderr
        assert r.stdout == ""
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert r.stderr.startswith(f"gsc: error: image {missing!r} "), r.stderr
    assert early.stderr == usual.stderr


def test_unreachable_engine_fails_in_one_line(signing_key: Path, tmp_path: Path) -> None:
    r = gsc("build", "gsc-example/hello", "-k", signing_key, "-q",
            env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("gsc: error: cannot reach the Docker Engine: "), r.stderr


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_early_export_build_equals_the_usual_path(
        signing_key: Path, engine_over_tcp: str) -> None:
    """The same image, key and date give the same output image whichever way the image was
    read; DOCKER_HOST=tcp:// builds (through the usual path)."""
    src = build_example("hello")
    early = _build(src, signing_key, "gsc-test/early-export:early")
    usual = _build(src, signing_key, "gsc-test/early-export:usual",
                   env={"DOCKER_HOST": engine_over_tcp})
    try:
        for key in ("image_id", "base_image_id", "mrenclave", "mrsigner", "trusted_files",
                    "manifest_bytes"):
            assert early[key] == usual[key], key
    finally:
        docker("rmi", "gsc-test/early-export:early", "gsc-test/early-export:usual",
               check=False)


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_build_reads_the_early_export(signing_key: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`gsc build` of a daemon image asks for the export once, by the name given, and reads
    that stream: no second export through docker-py."""
    src = build_example("hello")
    started: list[str] = []
    real_start = early_export.start

    def start(ref: str) -> early_export.EarlyExport | None:
        started.append(ref)
        return real_start(ref)

    def no_export(*args: object) -> object:
        raise AssertionError("the image was exported a second time")

    monkeypatch.setattr(early_export, "start", start)
    monkeypatch.setattr(engine, "export", no_export)
    rc = cli.main(["build", f"docker-daemon:{src}", "-k", str(signing_key), "--date", DATE,
                   "-t", "gsc-test/early-export:inproc", "--json", "-q"])
    out = capsys.readouterr()
    docker("rmi", "gsc-test/early-export:inproc", check=False)
    assert rc == 0, out.err
    assert started == [src]
    assert json.loads(out.out)["base_image_id"].startswith("sha256:")


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_no_request_for_other_commands_or_sources(
        signing_key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    src = build_example("hello")
    _build(src, signing_key, "gsc-test/early-export:info")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("early export requested")

    monkeypatch.setattr(early_export, "start", refuse)
    archive = tmp_path / "hello.tar"
    subprocess.run(["docker", "save", "-o", str(archive), src], check=True)
    try:
        for argv in (["inspect", src, "--json"],
                     ["info-image", "gsc-test/early-export:info", "--json"],
                     ["verify-image", "gsc-test/early-export:info", "--json"],
                     ["build", f"docker-archive:{archive}", "-k", str(signing_key),
                      "-t", "gsc-test/early-export:archive", "--json", "-q"]):
            assert cli.main(argv) == 0, (argv, capsys.readouterr().err)
    finally:
        docker("rmi", "gsc-test/early-export:info", "gsc-test/early-export:archive",
               check=False)


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_an_export_of_another_image_is_never_read_as_this_one() -> None:
    """The name moved between the early request and the lookup: the stream holds another
    image than the one found, so the image found is read by ID instead."""
    asked = build_example("nonroot")
    found = build_example("hello")
    export = early_export.start(asked)
    assert export is not None
    source = open_source(found, export=export)
    found_id = docker("image", "inspect", "-f", "{{.Id}}", found).stdout.strip()
    assert source.id == found_id
    with source.open() as image:
        assert "sha256:" + hashlib.sha256(image.config_bytes).hexdigest() == found_id
        assert image.fs.get("/bin/busybox") is not None    # hello, not nonroot (Debian)
    assert export.take() is None   # the early stream was taken (and dropped)
