"""connect() under the runtime (issue 8, class 5): pathname AF_UNIX sockets follow the file
policy, race-free (the supervisor takes the app's socket with pidfd_getfd, copies the
address once and connects the shared socket itself), and every other connect still works.
Listeners are started by the test, outside the policy. Probe: supervisor_probe.c."""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from capabilities import need
from rt_bundle import MakeBundle, public_dir
from test_supervisor_compat import run_sprobe, sprobe  # noqa: F401  (fixture)


class Listener:
    """Accepts on sock in a thread; answers "ping" with "pong" (stream: per connection,
    datagram: per packet); counts what arrived and the peers' SO_PEERCRED."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.accepted = 0
        self.received: list[bytes] = []
        self.peers: list[tuple[int, int, int]] = []
        self._stop = threading.Event()
        self.sock.settimeout(0.05)
        if sock.type == socket.SOCK_STREAM:
            sock.listen(64)
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.sock.type == socket.SOCK_STREAM:
                    conn, _ = self.sock.accept()
                    self._serve(conn)
                else:
                    data, addr = self.sock.recvfrom(64)
                    self.received.append(data)
                    if data == b"ping" and addr:
                        self.sock.sendto(b"pong", addr)
            except (TimeoutError, BlockingIOError, OSError):
                continue
        # Connections the peer completed before close() but not yet accepted still count:
        # the kernel queued them in the backlog.
        if self.sock.type == socket.SOCK_STREAM:
            self.sock.setblocking(False)
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    break
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        self.accepted += 1
        with conn:
            if conn.family == socket.AF_UNIX:
                cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                       struct.calcsize("3i"))
                pid, uid, gid = struct.unpack("3i", cred)
                self.peers.append((pid, uid, gid))
            conn.settimeout(2)
            try:
                data = conn.recv(4)
            except OSError:
                return
            self.received.append(data)
            if data == b"ping":
                conn.sendall(b"pong")

    def close(self) -> None:
        self._stop.set()
        self._t.join(timeout=5)
        self.sock.close()


@pytest.fixture
def box() -> Iterator[Path]:
    """A short directory (sun_path holds 108 bytes) others can traverse: ok/ (allowed)
    and no/ (denied), each to hold a socket "s"."""
    with public_dir("r3c-") as d:
        for sub in ("ok", "no"):
            (d / sub).mkdir()
            os.chmod(d / sub, 0o755)
        yield d


def unix_listener(path: Path, kind: int = socket.SOCK_STREAM, mode: int = 0o666) -> Listener:
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(str(path))
    os.chmod(path, mode)
    return Listener(s)


def test_denied_socket_refused_and_nothing_reaches_it(
        make_bundle: MakeBundle, sprobe: str, box: Path) -> None:  # noqa: F811
    lst = unix_listener(box / "no" / "s")
    dg = unix_listener(box / "no" / "d", socket.SOCK_DGRAM)
    try:
        out, err = run_sprobe(make_bundle, sprobe,
                              [f"unix-echo {box}/no/s", f"connect-unix {box}/no/s",
                               f"unix-dgram {box}/no/d"],
                              allowed=[f"{box}/ok/"])
    finally:
        lst.close()
        dg.close()
    assert out[f"unix-echo {box}/no/s"] == "EACCES", err
    assert out[f"connect-unix {box}/no/s"] == "EACCES", err
    assert out[f"unix-dgram {box}/no/d"] == "EACCES", err
    assert (lst.accepted, lst.received, dg.received) == (0, [], [])
    assert f"policy: denied connect to {box}/no/s" in err


def test_allowed_socket_works_both_ways(make_bundle: MakeBundle, sprobe: str,  # noqa: F811
                                        box: Path) -> None:
    lst = unix_listener(box / "ok" / "s")
    dg = unix_listener(box / "ok" / "d", socket.SOCK_DGRAM)
    (box / "ok" / "link").symlink_to(box / "ok" / "s")
    (box / "no" / "link").symlink_to(box / "ok" / "s")  # denied name, allowed socket
    try:
        out, err = run_sprobe(make_bundle, sprobe,
                              [f"unix-echo {box}/ok/s", f"unix-echo {box}/ok/link",
                               f"unix-echo {box}/no/link", f"unix-dgram {box}/ok/d",
                               f"unix-echo {box}/ok/absent"],
                              allowed=[f"{box}/ok/"])
    finally:
        lst.close()
        dg.close()
    assert out[f"unix-echo {box}/ok/s"] == "OK", err
    # the socket file reached decides, as for opens (the symlink is followed)
    assert out[f"unix-echo {box}/ok/link"] == "OK", err
    assert out[f"unix-echo {box}/no/link"] == "OK", err
    assert out[f"unix-dgram {box}/ok/d"] == "OK", err
    assert out[f"unix-echo {box}/ok/absent"] == "ENOENT", err
    assert lst.received == [b"ping"] * 3
    assert dg.received == [b"d"]
    # the peer is the supervisor's process, with the app's identity (root here)
    assert all(uid == 0 for _, uid, _ in lst.peers)


def test_racing_thread_never_reaches_the_denied_socket(
        make_bundle: MakeBundle, sprobe: str, box: Path) -> None:  # noqa: F811
    ok = unix_listener(box / "ok" / "s")
    no = unix_listener(box / "no" / "s")
    cmd = f"unix-race {box}/ok/s {box}/no/s 3000"
    try:
        out, err = run_sprobe(make_bundle, sprobe, [cmd], allowed=[f"{box}/ok/"])
    finally:
        ok.close()
        no.close()
    assert out[cmd] == "OK", err
    assert no.accepted == 0, err
    counts = dict(kv.split("=") for kv in err.split("race: ", 1)[1].split()[:4])
    # the race ran both ways: some connects saw the allowed path, some the denied one
    assert int(counts["connected-allowed"]) > 0 and int(counts["refused"]) > 0, err
    assert ok.accepted == int(counts["connected-allowed"])


def test_socket_permission_and_peer_identity_follow_the_app(
        make_bundle: MakeBundle, sprobe: str, box: Path) -> None:  # noqa: F811
    need("root", os.geteuid() == 0, "drops to another user")
    lst = unix_listener(box / "ok" / "s")
    priv = unix_listener(box / "ok" / "p", mode=0o600)
    try:
        out, err = run_sprobe(make_bundle, sprobe,
                              [f"drop-unix-echo 65534 {box}/ok/s"], allowed=[f"{box}/ok/"])
        out2, err2 = run_sprobe(make_bundle, sprobe,
                                [f"drop-unix-echo 65534 {box}/ok/p"], allowed=[f"{box}/ok/"])
    finally:
        lst.close()
        priv.close()
    assert out[f"drop-unix-echo 65534 {box}/ok/s"] == "OK", err
    assert [(uid, gid) for _, uid, gid in lst.peers] == [(65534, 65534)]
    # connect needs write permission on the socket file, checked as the app
    assert out2[f"drop-unix-echo 65534 {box}/ok/p"] == "EACCES", err2
    assert priv.accepted == 0


@pytest.fixture
def tcp() -> Iterator[Listener]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    lst = Listener(s)
    yield lst
    lst.close()


def _refused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def getfd() -> bool:
    """Whether the supervisor may take the app's socket with pidfd_getfd: False where
    test_supervisor_nogetfd.py runs these tests again with that call refused."""
    return True


def test_tcp_udp_and_abstract_connects(make_bundle: MakeBundle, sprobe: str,  # noqa: F811
                                       tcp: Listener, getfd: bool) -> None:
    """TCP and UDP connects work and give the kernel's errors in both modes. An abstract
    socket made outside the app's Landlock domain: reached when the supervisor connects the
    app's socket itself (pidfd_getfd); without pidfd_getfd the kernel runs the connect
    (CONTINUE) and refuses it (LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET)."""
    port = tcp.sock.getsockname()[1]
    closed = _refused_port()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    uport = u.getsockname()[1]
    udp = Listener(u)
    name = f"r3c-abstract-{os.getpid()}-{int(getfd)}"
    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.bind("\0" + name)
    abstract = Listener(a)
    cmds = [f"connect-tcp {port}", f"connect-tcp-nb {port}", f"connect-tcp {closed}",
            f"connect-tcp-nb {closed}", f"udp-echo {uport}",
            f"abstract-echo {name}"]
    try:
        out, err = run_sprobe(make_bundle, sprobe, cmds)
    finally:
        udp.close()
        abstract.close()
    assert out[f"connect-tcp {port}"] == "OK", err
    assert out[f"connect-tcp-nb {port}"] == "OK", err
    assert out[f"connect-tcp {closed}"] == "ECONNREFUSED", err
    assert out[f"connect-tcp-nb {closed}"] == "ECONNREFUSED", err
    assert out[f"udp-echo {uport}"] == "OK", err
    assert tcp.accepted == 2
    if getfd:
        assert out[f"abstract-echo {name}"] == "OK", err
        assert abstract.received == [b"ping"]
    else:
        assert out[f"abstract-echo {name}"] == "EPERM", err
        assert abstract.accepted == 0


def test_connect_paths_under_asan_ubsan(make_bundle: MakeBundle, sprobe: str,  # noqa: F811
                                        box: Path, tcp: Listener, asan_runtime: Path) -> None:
    """The same paths (inline, worker threads, identity switches, refusals) in the
    sanitised runtime."""
    ok = unix_listener(box / "ok" / "s")
    no = unix_listener(box / "no" / "s")
    port = tcp.sock.getsockname()[1]
    cmds = [f"unix-echo {box}/ok/s", f"unix-echo {box}/no/s", f"connect-tcp {port}",
            f"connect-tcp-nb {port}", f"connect-tcp {_refused_port()}",
            f"unix-race {box}/ok/s {box}/no/s 200"]
    b = make_bundle(entrypoint=sprobe, argv=["sprobe", *cmds], trusted=[sprobe],
                    allowed=[f"{box}/ok/"], runtime_src=asan_runtime)
    try:
        r = b.run(env={"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
                       "UBSAN_OPTIONS": "halt_on_error=1"})
    finally:
        ok.close()
        no.close()
    assert r.returncode == 0, r.stderr
    out = dict(line.rsplit(" => ", 1) for line in r.stdout.splitlines())
    assert list(out.values()) == ["OK", "EACCES", "OK", "OK", "ECONNREFUSED", "OK"], r.stderr
    assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr
    assert no.accepted == 0
