#!/usr/bin/env python3
"""Application benchmarks of shielded images, each beside its native baseline from the same run.

    python benchmarks/bench_apps.py [--quick] [--only NAME[,NAME]] [--rounds N]
                                    [--wrk-seconds S] [--wrk-netns] [--json]

Uses only the installed `gsc` CLI (`python -P -m gsc`) and the real Docker Engine. Every
image is built locally from --base (default gsc-local/debian:bookworm) and tagged
`gsc-bench/...`; the shielded images are rebuilt on every run, so the runtime measured is
the one installed now. Native and shielded measurements alternate round by round so that
drift on a shared machine hits both sides alike.

Benchmarks (--only takes these names):
  nginx-stock     Debian's nginx as `apt-get install nginx` leaves it (master as root,
                  www-data workers, default site on port 80, /var/www/html, no
                  open_file_cache): wrk on 127.0.0.1 to a published port, 4 KiB and 1 MiB
                  static files. Target >= 0.95x.
  nginx-example   examples/nginx (non-root, port 8080) serving the same two files.
                  wrk -t2 -c32 runs on the host against 127.0.0.1:PUBLISHED_PORT, which Docker
                  serves through its userland docker-proxy (both sides pay it); --wrk-netns
                  runs wrk on 127.0.0.1 inside each container's network namespace instead.
  python-pass     `python3 -c pass`. Target <= 1.15x.
  python-imports  python3 importing asyncio, json, email.parser, http.client,
                  xml.etree.ElementTree, sqlite3, decimal, logging. Target <= 1.3x.
  fork            sh -c 'for i in $(seq 200); do /bin/true; done'. Target <= 1.5x.
  build           `gsc build` of examples/python and examples/nginx vs
                  `docker save IMAGE | sha256sum`. Target <= 1.3x.

The start-up and fork benchmarks print two rows each: the wall time of `docker run --rm`
(Docker's own overhead of a few hundred ms is paid by both sides, which pulls the ratio
towards 1) and the container's own lifetime, Docker's State.StartedAt to State.FinishedAt
(process start to exit, without the client and API round trips).

A shielded container that does not start or does not serve the expected bytes is reported
as "failed" with its logs on stderr; the other benchmarks still run. The table goes to
stdout, or with --json to stderr while stdout carries one JSON object. Exit status: 0 when
the run completed (whatever the rows say), 2 for a usage error or a missing Docker Engine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GSC = [sys.executable, "-P", "-m", "gsc"]
BENCHMARKS = ("nginx-stock", "nginx-example", "python-pass", "python-imports", "fork", "build")
IMPORTS = ("import asyncio, json, email.parser, http.client, xml.etree.ElementTree, sqlite3, "
           "decimal, logging")
FORK = "for i in $(seq 200); do /bin/true; done"
FILES = (("4k.bin", 4096, "4 KiB"), ("1m.bin", 1 << 20, "1 MiB"))
DOCKER_NOTE = ("docker run rows include Docker's own start/stop overhead on both sides; "
               "'in container' rows are State.StartedAt..FinishedAt; published-port wrk rows "
               "go through docker-proxy on both sides (--wrk-netns avoids it)")


class BenchError(Exception):
    """One benchmark could not be measured; the message says why (one line)."""


@dataclass
class Row:
    name: str
    benchmark: str
    unit: str
    target: str
    gsc: float | None = None
    native: float | None = None
    ratio: float | None = None
    status: str = "failed"
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Config:
    base: str
    quick: bool
    rounds: int
    wrk_seconds: int
    wrk_netns: bool
    key: Path
    tmp: Path
    log: Callable[[str], None]
    verify: str = "auto"


# -- helpers ---------------------------------------------------------------------------------

def run(*cmd: str, check: bool = True, timeout: float = 900,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise BenchError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {last[0]}")
    return proc


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gsc_build(src: str, tag: str, cfg: Config, manifest: Path | None = None) -> None:
    args = [*GSC, "build", src, *([str(manifest)] if manifest else []), "-k", str(cfg.key),
            "-t", tag, "--json", "-q"]
    if cfg.verify != "auto":
        conf = cfg.tmp / "verify.yaml"
        conf.write_text(f"verify_trusted_files: {cfg.verify}\n")
        args += ["-c", str(conf)]
    proc = run(*args, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise BenchError(f"gsc build {src} failed: {msg[0]}")
    json.loads(proc.stdout)  # one JSON object, or the build did not finish as it says


def docker_build(tag: str, context: Path, cfg: Config) -> str:
    run("docker", "build", "-q", "--build-arg", f"BASE={cfg.base}", "-t", tag, str(context),
        timeout=1800)
    return tag


def resolve(image: str, path: str) -> str:
    out = run("docker", "run", "--rm", "--entrypoint", "readlink", image, "-f", path).stdout
    return out.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def judge(row: Row) -> None:
    """Fill ratio and status from the medians; target is '>= X' or '<= X' (ratio gsc/native)."""
    if row.gsc is None or row.native is None or row.native <= 0:
        return
    row.ratio = row.gsc / row.native
    op, value = row.target.split()
    bound = float(value.rstrip("x"))
    ok = row.ratio >= bound if op == ">=" else row.ratio <= bound
    row.status = "pass" if ok else "short"


def alternate(rounds: int, native: Callable[[], float],
              shielded: Callable[[], float]) -> tuple[list[float], list[float]]:
    """Native then shielded, round after round (the order flips every round)."""
    ns: list[float] = []
    gs: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            ns.append(native())
            gs.append(shielded())
        else:
            gs.append(shielded())
            ns.append(native())
    return ns, gs


def finish(row: Row, ns: list[float], gs: list[float]) -> Row:
    row.samples = {"native": ns, "gsc": gs}
    row.native, row.gsc = statistics.median(ns), statistics.median(gs)
    judge(row)
    return row


def failed_rows(rows: list[Row], note: str) -> list[Row]:
    for r in rows:
        r.status, r.note = "failed", note
    return rows


# -- servers -------------------------------------------------------------------------------

def read_from_container(name: str, path: str) -> str:
    """One regular file of a container (running or stopped) as text, or "" if there is none."""
    cp = subprocess.run(["docker", "cp", f"{name}:{path}", "-"], capture_output=True,
                        timeout=60)
    if cp.returncode != 0:
        return ""
    with tarfile.open(fileobj=io.BytesIO(cp.stdout)) as tar:
        member = next((m for m in tar.getmembers() if m.isfile()), None)
        f = tar.extractfile(member) if member is not None else None
        return f.read(1 << 20).decode(errors="replace") if f is not None else ""


class Server:
    """A detached container publishing one port on 127.0.0.1."""

    def __init__(self, image: str, inner_port: int, name: str, log: Callable[[str], None],
                 log_files: tuple[str, ...] = ()):
        self.image, self.name, self.log, self.log_files = image, name, log, log_files
        self.port, self.inner_port = free_port(), inner_port
        run("docker", "rm", "-f", name, check=False)
        run("docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{self.port}:{inner_port}",
            image)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def load_cmd(self, path: str, netns: bool) -> tuple[list[str], str]:
        """(command prefix, URL) for wrk: the published port, or loopback inside the
        container's own network namespace (no docker-proxy in the path)."""
        if not netns:
            return [], self.url(path)
        pid = run("docker", "inspect", "-f", "{{.State.Pid}}", self.name).stdout.strip()
        return ["nsenter", "-t", pid, "-n"], f"http://127.0.0.1:{self.inner_port}/{path}"

    def logs(self) -> str:
        p = run("docker", "logs", "--tail", "40", self.name, check=False)
        text = (p.stdout + p.stderr).strip()
        for path in self.log_files:  # the app's own log files, copied out (no exec needed)
            lines = read_from_container(self.name, path).splitlines()
            if lines:
                text += f"\n[{path}, last lines]\n" + "\n".join(lines[-20:])
        return text.strip()

    def processes(self) -> str:
        p = run("docker", "top", self.name, "-o", "pid,user,args", check=False)
        return p.stdout.strip() if p.returncode == 0 else "(not running)"

    def fail(self, why: str) -> BenchError:
        logs = self.logs()
        self.log(f"--- {self.image} ({self.name}): {why}; processes:\n{self.processes()}\n"
                 f"container logs:\n{logs or '(none)'}\n---")
        last = [ln for ln in logs.splitlines() if ln.strip()][-1:] or ["no logs"]
        return BenchError(f"{why}; last log line: {last[0][:160]}")

    def wait_ready(self, path: str, size: int) -> None:
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline:
            state = run("docker", "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}",
                        self.name, check=False).stdout.split()
            if state[:1] != ["true"]:
                code = state[1] if len(state) > 1 else "?"
                raise self.fail(f"container exited (code {code})")
            p = run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                    "--max-time", "5", self.url(path), check=False)
            status = p.stdout.strip()
            if status == f"200 {size}":
                return
            if status and not status.startswith("000"):
                raise self.fail(f"GET /{path} answered {status.split()[0]} "
                                f"({status.split()[-1]} bytes, expected 200 and {size})")
            time.sleep(0.2)
        ports = self.listening()
        raise self.fail(f"no answer on port {self.port} within 30 s ({status or 'no reply'}); "
                        f"listening in the container: {ports or 'nothing'}")

    def listening(self) -> str:
        """TCP ports in LISTEN state in the container's network namespace (host /proc)."""
        pid = run("docker", "inspect", "-f", "{{.State.Pid}}", self.name,
                  check=False).stdout.strip()
        ports: set[int] = set()
        for proto in ("tcp", "tcp6"):
            try:
                text = Path(f"/proc/{pid}/net/{proto}").read_text()
            except OSError:
                continue
            for line in text.splitlines()[1:]:
                cols = line.split()
                if len(cols) > 3 and cols[3] == "0A":
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        return ", ".join(map(str, sorted(ports)))

    def stop(self) -> None:
        run("docker", "rm", "-f", self.name, check=False)


def wrk(target: tuple[list[str], str], seconds: int) -> float:
    prefix, url = target
    out = run(*prefix, "wrk", "-t2", "-c32", f"-d{seconds}s", url, timeout=seconds + 60).stdout
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad:
        raise BenchError(f"wrk {url}: {bad.group(1)} non-2xx responses")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError(f"wrk {url}: no Requests/sec in its output")
    return float(m.group(1))


def payload_context(cfg: Config, name: str, dockerfile: str) -> Path:
    ctx = cfg.tmp / name
    ctx.mkdir(exist_ok=True)
    for fname, size, _ in FILES:
        (ctx / fname).write_bytes(os.urandom(size))
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def nginx_bench(cfg: Config, name: str, native: str, shielded_tag: str, inner_port: int,
                manifest: Path | None, label: str,
                log_files: tuple[str, ...] = ()) -> list[Row]:
    where = "container netns" if cfg.wrk_netns else "published port"
    rows = [Row(name, f"{label} {desc} (req/s, {where})", "req/s", ">= 0.95x")
            for _, _, desc in FILES]
    try:
        gsc_build(native, shielded_tag, cfg, manifest)
    except BenchError as e:
        return failed_rows(rows, str(e))
    servers: dict[str, Server] = {}
    try:
        servers["native"] = Server(native, inner_port, f"gsc-bench-{name}-native", cfg.log)
        servers["gsc"] = Server(shielded_tag, inner_port, f"gsc-bench-{name}-gsc", cfg.log,
                                log_files)
        try:
            for fname, size, _ in FILES:
                servers["native"].wait_ready(fname, size)
        except BenchError as e:
            return failed_rows(rows, f"native: {e}")
        try:
            for fname, size, _ in FILES:
                servers["gsc"].wait_ready(fname, size)
        except BenchError as e:
            return failed_rows(rows, f"shielded: {e}")
        for row, (fname, _, _) in zip(rows, FILES, strict=True):
            s_n, s_g = servers["native"], servers["gsc"]
            try:
                t_n, t_g = s_n.load_cmd(fname, cfg.wrk_netns), s_g.load_cmd(fname, cfg.wrk_netns)
                wrk(t_n, 1)  # warm-up, both sides
                wrk(t_g, 1)
                ns, gs = alternate(cfg.rounds, partial(wrk, t_n, cfg.wrk_seconds),
                                   partial(wrk, t_g, cfg.wrk_seconds))
            except BenchError as e:
                row.status, row.note = "failed", str(e)
                continue
            finish(row, ns, gs)
        return rows
    except BenchError as e:
        return failed_rows(rows, str(e))
    finally:
        for s in servers.values():
            s.stop()


def bench_nginx_stock(cfg: Config) -> list[Row]:
    ctx = payload_context(cfg, "nginx-stock", (
        "ARG BASE\nFROM ${BASE}\n"
        "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx \\\n"
        "    && rm -rf /var/lib/apt/lists/*\n"
        "COPY 4k.bin 1m.bin /var/www/html/\n"
        "EXPOSE 80\nSTOPSIGNAL SIGQUIT\n"
        'CMD ["nginx", "-g", "daemon off;"]\n'))
    manifest = cfg.tmp / "nginx-stock.toml"
    # Application configuration, not benchmark configuration: where Debian's nginx writes.
    manifest.write_text('[sgx]\nallowed_files = ["file:/var/lib/nginx/", "file:/var/log/nginx/"]\n')
    rows = [Row("nginx-stock", f"nginx stock {d} (req/s)", "req/s", ">= 0.95x") for *_, d in FILES]
    try:
        native = docker_build("gsc-bench/nginx-stock:native", ctx, cfg)
    except BenchError as e:
        return failed_rows(rows, str(e))
    return nginx_bench(cfg, "nginx-stock", native, "gsc-bench/nginx-stock:gsc", 80, manifest,
                       "nginx stock", ("/var/log/nginx/error.log",))


def bench_nginx_example(cfg: Config) -> list[Row]:
    rows = [Row("nginx-example", f"nginx example {d} (req/s)", "req/s", ">= 0.95x")
            for *_, d in FILES]
    try:
        example = docker_build("gsc-bench/nginx-example:base", REPO / "examples" / "nginx", cfg)
        ctx = payload_context(cfg, "nginx-example", (
            f"FROM {example}\nUSER root\nCOPY 4k.bin 1m.bin /srv/www/\n"
            "RUN chmod 644 /srv/www/4k.bin /srv/www/1m.bin\nUSER www-data\n"))
        native = docker_build("gsc-bench/nginx-example:native", ctx, cfg)
    except BenchError as e:
        return failed_rows(rows, str(e))
    return nginx_bench(cfg, "nginx-example", native, "gsc-bench/nginx-example:gsc", 8080,
                       REPO / "examples" / "nginx" / "gsc.toml", "nginx example")


# -- short-lived containers ----------------------------------------------------------------

_DT = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)")


def _instant(text: str) -> float:
    m = _DT.fullmatch(text.strip())
    if not m:
        raise BenchError(f"unexpected Docker timestamp {text!r}")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    whole = datetime.fromisoformat(m.group(1) + tz).timestamp()
    return whole + float("0." + (m.group(2) or "0"))


def one_shot(image: str, entrypoint: list[str], args: list[str], log: Callable[[str], None],
             name: str) -> tuple[float, float]:
    """(wall of `docker run`, container lifetime) of one run; fails on a non-zero exit."""
    run("docker", "rm", "-f", name, check=False)
    ep = ["--entrypoint", entrypoint[0]] if entrypoint else []
    start = time.perf_counter()
    proc = run("docker", "run", "--name", name, *ep, image, *entrypoint[1:], *args, check=False)
    wall = time.perf_counter() - start
    try:
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip()
            log(f"--- {image}: exit {proc.returncode}; output:\n{out or '(none)'}\n---")
            last = out.splitlines()[-1:] or ["no output"]
            raise BenchError(f"{image} exited {proc.returncode}: {last[0][:160]}")
        fmt = "{{.State.StartedAt}} {{.State.FinishedAt}}"
        started, finished = run("docker", "inspect", "-f", fmt, name).stdout.split()
        return wall, _instant(finished) - _instant(started)
    finally:
        run("docker", "rm", "-f", name, check=False)


def run_rm(image: str, entrypoint: list[str], args: list[str]) -> float:
    ep = ["--entrypoint", entrypoint[0]] if entrypoint else []
    return timed(lambda: run("docker", "run", "--rm", *ep, image, *entrypoint[1:], *args))


def start_bench(cfg: Config, name: str, label: str, target: str, native: str, argv: list[str],
                entrypoint: str, rounds: int) -> list[Row]:
    """argv[0] is the program name; entrypoint the absolute path gsc pins for it."""
    rows = [Row(name, f"{label}, docker run --rm (ms)", "ms", target),
            Row(name, f"{label}, in container (ms)", "ms", target)]
    shielded = f"gsc-bench/{name}:gsc"
    manifest = cfg.tmp / f"{name}.toml"
    manifest.write_text(f"[loader]\nargv = {json.dumps(argv)}\n"
                        f"[libos]\nentrypoint = {json.dumps(entrypoint)}\n")
    try:
        gsc_build(native, shielded, cfg, manifest)
        nat_cmd = [entrypoint, *argv[1:]]
        # Warm-up of both sides (page cache, image layers), also the first failure check.
        one_shot(native, nat_cmd, [], cfg.log, f"gsc-bench-{name}-n")
        one_shot(shielded, [], [], cfg.log, f"gsc-bench-{name}-g")
        ns, gs = alternate(rounds, lambda: run_rm(native, nat_cmd, []),
                           lambda: run_rm(shielded, [], []))
        finish(rows[0], [x * 1000 for x in ns], [x * 1000 for x in gs])
        pairs = alternate(rounds, lambda: one_shot(native, nat_cmd, [], cfg.log,
                                                   f"gsc-bench-{name}-n")[1],
                          lambda: one_shot(shielded, [], [], cfg.log, f"gsc-bench-{name}-g")[1])
        finish(rows[1], [x * 1000 for x in pairs[0]], [x * 1000 for x in pairs[1]])
    except BenchError as e:
        for r in rows:
            if r.gsc is None:
                r.status, r.note = "failed", str(e)
    return rows


def python_image(cfg: Config) -> tuple[str, str]:
    image = docker_build("gsc-bench/python:native", REPO / "examples" / "python", cfg)
    return image, resolve(image, "/usr/bin/python3")


def bench_python_pass(cfg: Config) -> list[Row]:
    try:
        image, py = python_image(cfg)
    except BenchError as e:
        return failed_rows([Row("python-pass", "python3 -c pass", "ms", "<= 1.15x")], str(e))
    return start_bench(cfg, "python-pass", "python3 -c pass", "<= 1.15x", image,
                       ["python3", "-c", "pass"], py, cfg.rounds * 3)


def bench_python_imports(cfg: Config) -> list[Row]:
    try:
        image, py = python_image(cfg)
    except BenchError as e:
        return failed_rows([Row("python-imports", "python3 import-heavy", "ms", "<= 1.3x")],
                           str(e))
    return start_bench(cfg, "python-imports", "python3 import-heavy", "<= 1.3x", image,
                       ["python3", "-c", IMPORTS], py, cfg.rounds * 3)


def bench_fork(cfg: Config) -> list[Row]:
    try:
        sh = resolve(cfg.base, "/bin/sh")
    except BenchError as e:
        return failed_rows([Row("fork", "fork+exec x200", "ms", "<= 1.5x")], str(e))
    return start_bench(cfg, "fork", "sh: 200 x fork+exec /bin/true", "<= 1.5x", cfg.base,
                       ["sh", "-c", FORK], sh, cfg.rounds * 2)


# -- build -----------------------------------------------------------------------------------

def save_and_hash(ref: str) -> None:
    """The baseline: `docker save REF | sha256sum`."""
    save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
    subprocess.run(["sha256sum"], stdin=save.stdout, check=True, capture_output=True)
    if save.stdout is not None:
        save.stdout.close()
    if save.wait() != 0:
        raise BenchError(f"docker save {ref} failed")


def bench_build(cfg: Config) -> list[Row]:
    rows: list[Row] = []
    for ex, manifest in (("python", None), ("nginx", REPO / "examples/nginx/gsc.toml")):
        row = Row("build", f"gsc build {ex} example (s)", "s", "<= 1.3x")
        rows.append(row)
        try:
            src = docker_build(f"gsc-bench/{ex}:native" if ex == "python"
                               else "gsc-bench/nginx-example:base",
                               REPO / "examples" / ex, cfg)
            tag = f"gsc-bench/build-{ex}:gsc"
            ns, gs = alternate(max(1, cfg.rounds // 2 + (0 if cfg.quick else 1)),
                               partial(timed, partial(save_and_hash, src)),
                               partial(timed, partial(gsc_build, src, tag, cfg, manifest)))
            finish(row, ns, gs)
            row.note = "native: docker save | sha256sum"
        except BenchError as e:
            row.status, row.note = "failed", str(e)
    return rows


RUNNERS: dict[str, Callable[[Config], list[Row]]] = {
    "nginx-stock": bench_nginx_stock,
    "nginx-example": bench_nginx_example,
    "python-pass": bench_python_pass,
    "python-imports": bench_python_imports,
    "fork": bench_fork,
    "build": bench_build,
}


# -- output --------------------------------------------------------------------------------

def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    head = ("benchmark", "gsc", "native", "ratio", "target", "pass/short")
    body = [(r.benchmark, fmt(r.gsc, r.unit), fmt(r.native, r.unit),
             "-" if r.ratio is None else f"{r.ratio:.2f}x", r.target, r.status) for r in rows]
    widths = [max(len(x[i]) for x in (head, *body)) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip(),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip()
              for b in body]
    notes = [f"  {r.benchmark}: {r.note}" for r in rows if r.status == "failed" and r.note]
    if notes:
        lines += ["", "failed:", *notes]
    lines += ["", f"note: {DOCKER_NOTE}; ratio = gsc / native (medians)"]
    return "\n".join(lines)


def parse_only(text: str | None) -> list[str]:
    if not text:
        return list(BENCHMARKS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise SystemExit(f"bench_apps: unknown benchmark {', '.join(unknown) or '(none)'}; "
                         f"choose from {', '.join(BENCHMARKS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", default="gsc-local/debian:bookworm")
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter wrk runs")
    ap.add_argument("--only", metavar="NAME[,NAME]", help=", ".join(BENCHMARKS))
    ap.add_argument("--rounds", type=int, help="rounds per side (default 5, --quick 2)")
    ap.add_argument("--wrk-seconds", type=int, help="seconds per wrk run (default 5, --quick 3)")
    ap.add_argument("--wrk-netns", action="store_true",
                    help="run wrk on loopback inside each server container's network namespace\n"
                         "(nsenter, needs root) instead of through the published port, which\n"
                         "Docker serves with its userland docker-proxy on both sides")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--verify", choices=("auto", "at_launch", "on_first_use"), default="auto",
                    help="gsc build's verify_trusted_files setting (default auto: at launch "
                         "for images that expose ports)")
    args = ap.parse_args(argv)
    try:
        only = parse_only(args.only)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    if args.rounds is not None and args.rounds < 1:
        print("bench_apps: --rounds must be at least 1", file=sys.stderr)
        return 2
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        print("bench_apps: Docker Engine is not reachable", file=sys.stderr)
        return 2
    if subprocess.run(["docker", "image", "inspect", args.base],
                      capture_output=True).returncode != 0:
        print(f"bench_apps: base image {args.base} is missing", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    rows: list[Row] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="gsc-bench-") as tmp:
        key = Path(tmp) / "key.pem"
        if run(*GSC, "gen-key", str(key), check=False).returncode != 0:
            print("bench_apps: gsc gen-key failed (is gsc installed?)", file=sys.stderr)
            return 2
        cfg = Config(base=args.base, quick=args.quick,
                     rounds=args.rounds or (2 if args.quick else 5),
                     wrk_seconds=args.wrk_seconds or (3 if args.quick else 5),
                     wrk_netns=args.wrk_netns,
                     key=key, tmp=Path(tmp), log=log, verify=args.verify)
        for name in only:
            log(f"bench_apps: {name} ...")
            t0 = time.perf_counter()
            try:
                got = RUNNERS[name](cfg)
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                got = [Row(name, name, "", "-", note=f"{type(e).__name__}: {e}")]
            rows += got
            log(f"bench_apps: {name} done in {time.perf_counter() - t0:.0f} s")

    text = table(rows)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps({
            "quick": args.quick, "rounds": cfg.rounds, "wrk_seconds": cfg.wrk_seconds,
            "wrk_netns": cfg.wrk_netns,
            "base": args.base, "cpus": os.cpu_count(), "started": int(started),
            "note": DOCKER_NOTE, "rows": [asdict(r) for r in rows],
        }))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
