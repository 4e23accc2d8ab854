#!/usr/bin/env python3
"""Daemonless `gsc build` vs the daemon path, same run, for the python and nginx examples.

    python benchmarks/bench_transports.py [--base gsc-local/debian:bookworm] [--runs 3]

Paths timed (wall seconds, median of --runs, signed with a fresh key, fixed --date):
  daemon        gsc build IMAGE                       (docker save in, docker load out)
  reg->reg      gsc build docker://REG/IMAGE --output docker://REG/gsc-IMAGE
  reg->oci-tar  gsc build docker://REG/IMAGE --output oci-archive:FILE
  tar->oci-tar  gsc build docker-archive:FILE --output oci-archive:FILE
The daemonless runs have DOCKER_HOST pointing at a dead socket. REG is a Debian
docker-registry on 127.0.0.1 (plain HTTP); the base image is copied there with skopeo
(gzip layers, as a registry holds them). Also reports whether the daemon and
docker-archive paths (same reference) give one image ID, and the two registry paths
another (the reference is part of the manifest, so it differs from the daemon's).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEAD = {"DOCKER_HOST": "unix:///nonexistent/gsc-bench-dead.sock"}
DATE = "2024-03-01"


def sh(*cmd: str, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, **(env or {})}
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=full).stdout


def example(name: str, base: str) -> str:
    tag = f"gsc-example/{name}:latest"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode:
        sh("docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", tag,
           str(REPO / "examples" / name))
    return tag


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cfg = root / "registry.yml"
    cfg.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                   f"    rootdirectory: {root}/registry\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("docker-registry did not start")


def gsc_build(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    out = sh(sys.executable, "-P", "-m", "gsc", "build", *args, "--date", DATE, "--json",
             "-q", env=env)
    seconds = time.perf_counter() - start
    return seconds, str(json.loads(out)["image_id"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", default="gsc-local/debian:bookworm")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for tool in ("skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (scripts/setup installs it)", file=sys.stderr)
            return 2
    rows: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="gsc-bench-transports-") as tmp:
        root = Path(tmp)
        key = root / "key.pem"
        sh(sys.executable, "-P", "-m", "gsc", "gen-key", str(key))
        proc, reg = start_registry(root)
        try:
            for name, extra in (("python", []),
                                ("nginx", [str(REPO / "examples/nginx/gsc.toml")])):
                src = example(name, args.base)
                remote = f"{reg}/bench/{name}:1"
                sh("skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-daemon:{src}",
                   f"docker://{remote}")
                saved = root / f"{name}.tar"
                sh("docker", "save", "-o", str(saved), src)
                paths = {
                    "daemon": ([src, *extra, "-k", str(key), "-t",
                                f"gsc-bench-transports/{name}:1"], None),
                    "reg->reg": ([f"docker://{remote}", *extra, "-k", str(key),
                                  "--tls-verify=false", "--output",
                                  f"docker://{reg}/bench/gsc-{name}:1"], DEAD),
                    "reg->oci-tar": ([f"docker://{remote}", *extra, "-k", str(key),
                                      "--tls-verify=false", "--output",
                                      f"oci-archive:{root}/{name}-out.tar"], DEAD),
                    "tar->oci-tar": ([f"docker-archive:{saved}", *extra, "-k", str(key),
                                      "--output", f"oci-archive:{root}/{name}-out2.tar"],
                                     DEAD),
                }
                times: dict[str, list[float]] = {p: [] for p in paths}
                ids: dict[str, set[str]] = {p: set() for p in paths}
                for _ in range(args.runs):
                    for p, (argv, env) in paths.items():
                        seconds, image_id = gsc_build(*argv, env=env)
                        times[p].append(seconds)
                        ids[p].add(image_id)
                daemon = statistics.median(times["daemon"])
                for p in paths:
                    med = statistics.median(times[p])
                    rows.append((name, p, med, med / daemon))
                local = ids["daemon"] | ids["tar->oci-tar"]
                remote = ids["reg->reg"] | ids["reg->oci-tar"]
                print(f"{name}: one image ID for daemon + docker-archive paths: "
                      f"{len(local) == 1}; one for both registry paths: {len(remote) == 1}",
                      file=sys.stderr)
                subprocess.run(["docker", "rmi", "-f", f"gsc-bench-transports/{name}:1"],
                               capture_output=True)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"{'example':<8} {'path':<13} {'seconds':>8}  vs daemon")
    for name, p, med, ratio in rows:
        print(f"{name:<8} {p:<13} {med:>8.2f}  {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
