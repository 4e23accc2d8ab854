"""Official-image patterns shielded with default settings (issue 10's compatibility matrix).

Each app is built from Debian packages the way its official Docker image is built (root
entrypoints dropping privileges with gosu, master/worker servers, Debian's *-enabled symlink
directories, data VOLUMEs, bind-mounted inputs), shielded with `gsc build IMAGE -k KEY` plus at
most `--env-passthrough`, and must pass the same functional check as the unshielded image,
then stop within 5 s on `docker stop` without being killed (exit 137).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clitools import BASE, docker, gsc, image_exists

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "images"


def build_app(name: str) -> str:
    tag = f"gsc-compat/{name}:latest"
    if not image_exists(tag):
        docker("build", "-q", "--build-arg", f"BASE={BASE}", "-t", tag, str(IMAGES / name),
               timeout=1200)
    return tag


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"port {port} never accepted a connection")


def http_get(port: int, path: str = "/", timeout: float = 30.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            return status, body.decode(errors="replace")
        except (OSError, IndexError, ValueError) as e:
            last = e
            time.sleep(0.3)
    raise AssertionError(f"no HTTP answer on port {port}: {last}")


def redis_cmd(port: int, *words: str) -> bytes:
    """One command; retried while the server is not up yet (docker-proxy accepts on the
    published port before redis listens, then closes: an empty reply)."""
    payload = f"*{len(words)}\r\n".encode()
    for w in words:
        payload += f"${len(w.encode())}\r\n{w}\r\n".encode()
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(payload)
                reply = s.recv(4096)
            if reply or time.monotonic() > deadline:
                return reply
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


@dataclass
class Container:
    name: str
    logs_on_failure: list[str] = field(default_factory=list)

    def port(self, inner: int) -> int:
        out = docker("port", self.name, f"{inner}/tcp").stdout.strip().splitlines()[0]
        return int(out.rsplit(":", 1)[1])

    def logs(self) -> str:
        p = docker("logs", self.name, check=False)
        return p.stdout + p.stderr

    def stop(self) -> tuple[float, int]:
        t0 = time.monotonic()
        docker("stop", "-t", "10", self.name, timeout=60)
        elapsed = time.monotonic() - t0
        code = int(docker("inspect", "-f", "{{.State.ExitCode}}", self.name).stdout.strip())
        return elapsed, code


@pytest.fixture
def run_container() -> Iterator[Callable[..., Container]]:
    started: list[str] = []

    def start(image: str, *args: str) -> Container:
        name = f"gsc-compat-{uuid.uuid4().hex[:10]}"
        docker("run", "-d", "--name", name, *args, image)
        started.append(name)
        return Container(name)

    yield start
    for n in started:
        docker("rm", "-f", "-v", n, check=False)


def output_tag(image: str) -> str:
    repo, _, tag = image.rpartition(":")
    return f"gsc-{repo}:{tag}"


def shielded(image: str, key: Path, *extra: str) -> str:
    # A tag of this run only: parallel runs (other worktrees) never see each other's images.
    out = f"{output_tag(image)}-{os.getpid()}"
    r = gsc("build", image, "-k", key, "-t", out, *extra, timeout=1200)
    assert r.returncode == 0, r.stderr
    assert image_exists(out), f"{out} missing after build: {r.stderr}"
    BUILT.append(out)
    return out


BUILT: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _remove_built() -> Iterator[None]:
    yield
    for tag in BUILT:
        docker("rmi", "-f", tag, check=False)


def assert_clean_stop(c: Container) -> None:
    elapsed, code = c.stop()
    assert code != 137, f"killed on docker stop (exit 137); logs:\n{c.logs()}"
    assert elapsed < 5.0, f"docker stop took {elapsed:.1f} s; logs:\n{c.logs()}"


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_redis(shield_it: bool, signing_key: Path, docker_ready: None,
               run_container: Callable[..., Container]) -> None:
    image = build_app("redis")
    if shield_it:
        image = shielded(image, signing_key)
    c = run_container(image, "-p", "127.0.0.1::6379")
    port = c.port(6379)
    try:
        assert redis_cmd(port, "SET", "k", "v1") == b"+OK\r\n"
        assert redis_cmd(port, "GET", "k") == b"$2\r\nv1\r\n"
        assert redis_cmd(port, "SAVE") == b"+OK\r\n"   # writes /data/dump.rdb (the VOLUME)
    except Exception as e:
        raise AssertionError(f"{e}; logs:\n{c.logs()}") from e
    assert_clean_stop(c)


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_nginx_stock(shield_it: bool, signing_key: Path, docker_ready: None,
                     run_container: Callable[..., Container]) -> None:
    image = build_app("nginx")
    if shield_it:
        image = shielded(image, signing_key)
    c = run_container(image, "-p", "127.0.0.1::80")
    status, body = http_get(c.port(80))
    assert status == 200 and "hello from shielded nginx" in body, c.logs()
    assert_clean_stop(c)


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_php_fpm_behind_nginx(shield_it: bool, signing_key: Path, docker_ready: None,
                              run_container: Callable[..., Container]) -> None:
    image = build_app("phpfpm")
    if shield_it:
        image = shielded(image, signing_key)
    c = run_container(image, "-p", "127.0.0.1::80")
    status, body = http_get(c.port(80), "/index.php")
    assert status == 200 and "hello from shielded php 8.2" in body, f"{body}\n{c.logs()}"
    assert "ext-ok" in body, body   # conf.d/*.ini symlinks read: the extension is loaded
    assert_clean_stop(c)


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_apache2_stopsignal(shield_it: bool, signing_key: Path, docker_ready: None,
                            run_container: Callable[..., Container]) -> None:
    image = build_app("apache2")
    if shield_it:
        image = shielded(image, signing_key)
    c = run_container(image, "-p", "127.0.0.1::80")
    status, body = http_get(c.port(80))
    assert status == 200 and "hello from shielded apache" in body, c.logs()
    assert_clean_stop(c)


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_postgres_volume_and_password(shield_it: bool, signing_key: Path, docker_ready: None,
                                      run_container: Callable[..., Container]) -> None:
    image = build_app("postgres")
    if shield_it:
        image = shielded(image, signing_key, "--env-passthrough", "POSTGRES_PASSWORD")
    vol = f"gsc-compat-pg-{uuid.uuid4().hex[:8]}"
    try:
        for round_ in range(2):   # the named volume survives a restart
            c = run_container(image, "-e", "POSTGRES_PASSWORD=s3cret", "-v",
                              f"{vol}:/var/lib/postgresql/data", "-p", "127.0.0.1::5432")
            port = c.port(5432)
            wait_port(port)
            sql = "create table if not exists t(x int); insert into t values (1); " \
                  "select count(*) from t;"
            deadline = time.monotonic() + 60
            while True:
                p = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                    "-tAc", sql], capture_output=True, text=True,
                                   env={"PGPASSWORD": "s3cret", "PATH": "/usr/bin:/bin"})
                if p.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert p.returncode == 0, f"{p.stderr}\nlogs:\n{c.logs()}"
            assert p.stdout.strip().splitlines()[-1] == str(round_ + 1)
            assert_clean_stop(c)
    finally:
        docker("volume", "rm", "-f", vol, check=False)


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_batch_readonly_input_and_volume(shield_it: bool, signing_key: Path, docker_ready: None,
                                         tmp_path: Path,
                                         run_container: Callable[..., Container]) -> None:
    image = build_app("batch")
    if shield_it:
        # defaults only: the image's empty /input is a mount point (read-only by default)
        image = shielded(image, signing_key)
    inp = tmp_path / "input"
    inp.mkdir()
    (inp / "a.txt").write_text("alpha beta alpha\n")
    (inp / "b.txt").write_text("gamma\n")
    vol = f"gsc-compat-batch-{uuid.uuid4().hex[:8]}"
    try:
        p = docker("run", "--rm", "-v", f"{inp}:/input:ro", "-v", f"{vol}:/output", image,
                   check=False, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "words=4 distinct=3" in p.stdout
    finally:
        docker("volume", "rm", "-f", vol, check=False)


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_mariadb(shield_it: bool, signing_key: Path, docker_ready: None,
                 run_container: Callable[..., Container]) -> None:
    image = build_app("mariadb")
    if shield_it:
        image = shielded(image, signing_key)
    c = run_container(image, "-p", "127.0.0.1::3306")
    port = c.port(3306)
    wait_port(port, timeout=90)
    # The server greets every client with a handshake packet carrying its version.
    deadline = time.monotonic() + 60
    greeting = b""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                greeting = s.recv(256)
            if b"MariaDB" in greeting:
                break
        except OSError:
            pass
        time.sleep(0.5)
    assert b"MariaDB" in greeting, c.logs()
    assert_clean_stop(c)


# Docker's default seccomp profile refuses pidfd_getfd (it needs CAP_SYS_PTRACE there), so
# the supervisor cannot take the app's socket and refuses the connect (EACCES: Java's
# "BindException: Permission denied"), logged as "process N cannot be inspected".
@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_java(shield_it: bool, signing_key: Path, docker_ready: None,
              run_container: Callable[..., Container]) -> None:
    """JRE-only image, non-root USER, `java -jar`: the JVM maps libjvm.so and its CDS
    archive, JITs, reads its jar, and lists conf/security/policy/unlimited/ (symlinks into
    /etc/java-17-openjdk) when JCE starts: 2147483647 is the unlimited policy's answer."""
    image = build_app("java")
    if shield_it:
        image = shielded(image, signing_key)
    c = run_container(image, "-p", "127.0.0.1::8080")
    status, body = http_get(c.port(8080), timeout=60)
    assert status == 200 and "hello from shielded java" in body, f"{body}\n{c.logs()}"
    assert "resource: read from the jar" in body, body
    assert "aes-max: 2147483647" in body, f"{body}\n{c.logs()}"
    assert "failed verification" not in c.logs(), c.logs()
    assert_clean_stop(c)


@pytest.mark.parametrize("shield_it", [False, True], ids=["native", "shielded"])
def test_java_loopback_connect(shield_it: bool, signing_key: Path, docker_ready: None,
                               run_container: Callable[..., Container]) -> None:
    """One outbound TCP connect from the JVM (to its own server over 127.0.0.1, no DNS)."""
    image = build_app("java")
    if shield_it:
        image = shielded(image, signing_key)
    c = run_container(image, "-p", "127.0.0.1::8080")
    status, body = http_get(c.port(8080), "/loopback", timeout=60)
    assert status == 200 and body == "loopback ok\n", f"{body}\n{c.logs()}"
    assert_clean_stop(c)
