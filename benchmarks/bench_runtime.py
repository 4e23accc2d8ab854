"""Benchmark of the native runtime: per-open overhead and launch time, native vs under
gsc-runtime, measured in the same run.

    python benchmarks/bench_runtime.py [--opens N] [--repeat R] [--json]

Builds a tiny static C probe (gcc -static) that opens a file N times and reports ns per
open; runs it natively and under the runtime (signed with the dev test key) for a trusted
file (first open = hash + verify, then cached), an allowed file and a denied one. Launch
time is the wall time of starting the runtime (signature check + MRENCLAVE over the
executable and manifest, fork, filter, exec) with a probe that does nothing, for enclave
sizes 256M and 4G (the free-page EADD records dominate at 4G).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gsc.manifest import schema  # noqa: E402
from gsc.sgx.keys import load_private_key  # noqa: E402
from gsc.sgx.sigstruct import sign_enclave  # noqa: E402

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static long long now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(int argc, char **argv) {
    if (argc < 3) return 0;
    int n = atoi(argv[2]), fails = 0;
    long long t0 = now();
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    long long first = now() - t0;
    if (fd >= 0) close(fd); else fails++;
    t0 = now();
    for (int i = 0; i < n; i++) {
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) close(fd); else fails++;
    }
    long long rest = now() - t0;
    printf("%lld %lld %d\n", first, n ? rest / n : 0, fails);
    return 0;
}
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shared_dir() -> Path:
    env = os.environ.get("GSC_SHARED")
    return Path(env) if env else REPO.parent / "shared"


class Setup:
    def __init__(self, root: Path, runtime: Path) -> None:
        self.root = root
        self.runtime = runtime
        self.probe = root / "probe"
        src = root / "probe.c"
        src.write_text(PROBE_C)
        subprocess.run(["gcc", "-O2", "-static", str(src), "-o", str(self.probe)], check=True)
        self.files = {
            "trusted_small": root / "t_small.bin",
            "trusted_1m": root / "t_1m.bin",
            "allowed": root / "rw" / "a.bin",
            "denied": root / "d.bin",
        }
        (root / "rw").mkdir()
        self.files["trusted_small"].write_bytes(os.urandom(4096))
        self.files["trusted_1m"].write_bytes(os.urandom(1 << 20))
        self.files["allowed"].write_bytes(b"a" * 4096)
        self.files["denied"].write_bytes(b"d" * 4096)
        self.key = load_private_key(shared_dir() / "testvectors" / "sgx" / "keys" /
                                    "key_dev.pem")

    def bundle(self, name: str, argv: list[str], enclave_size: str = "256M") -> Path:
        d = self.root / name / "gsc"
        d.mkdir(parents=True)
        shutil.copyfile(self.runtime, d / "gsc-runtime")
        (d / "gsc-runtime").chmod(0o755)
        trusted = [self.probe, self.files["trusted_small"], self.files["trusted_1m"]]
        doc: dict[str, Any] = {
            "libos": {"entrypoint": str(self.probe)},
            "loader": {"argv": argv},
            "fs": {"start_dir": str(self.root)},
            "sgx": {
                "enclave_size": enclave_size,
                "trusted_files": [{"uri": f"file:{p}", "sha256": sha256(p)}
                                  for p in sorted(trusted)],
                "allowed_files": [f"file:{self.root / 'rw'}"],
            },
        }
        links = pinned_symlinks([str(p) for p in trusted])
        if links:  # the runtime refuses unpinned symlinks in trusted directories
            doc["gsc"] = {"symlinks": links}
        data = schema.render(doc, "bench manifest")
        (d / "entrypoint.manifest.sgx").write_bytes(data)
        (d / "entrypoint.sig").write_bytes(
            sign_enclave(data, (d / "gsc-runtime").read_bytes(), self.key,
                         __import__("datetime").date(2024, 1, 2)))
        return d / "gsc-runtime"


def pinned_symlinks(trusted: list[str]) -> list[dict[str, str]]:
    """gsc.symlinks for the host tree: every symlink of every directory above a trusted
    file, with its target (the namespace rule of docs/runtime.md)."""
    dirs: set[str] = set()
    for p in trusted:
        d = os.path.dirname(p)
        while d not in dirs:
            dirs.add(d)
            if d == "/":
                break
            d = os.path.dirname(d)
    out = []
    for d in sorted(dirs):
        for e in os.scandir(d):
            path = os.path.join(d, e.name)
            if e.is_symlink() and path not in ("/etc/hosts", "/etc/hostname",
                                               "/etc/resolv.conf"):
                out.append({"path": path, "target": os.readlink(path)})
    return sorted(out, key=lambda x: x["path"].encode())


def run_probe(cmd: list[str]) -> tuple[int, int, int]:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={}).stdout
    first, per, fails = (int(x) for x in out.split())
    return first, per, fails


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env={})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opens", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--runtime", type=Path, default=REPO / "runtime" / "build" / "gsc-runtime")
    args = ap.parse_args()
    subprocess.run(["make", "-s", "-C", str(REPO / "runtime"), "runtime"], check=True)
    results: dict[str, Any] = {"opens": args.opens}
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:  # /tmp: others change its symlinks
        s = Setup(Path(tmp), args.runtime)
        n = str(args.opens)
        opens: dict[str, Any] = {}
        for label, key in (("trusted 4 KiB", "trusted_small"), ("trusted 1 MiB", "trusted_1m"),
                           ("allowed", "allowed"), ("denied", "denied")):
            path = str(s.files[key])
            nat = run_probe([str(s.probe), path, n])
            rt = run_probe([str(s.bundle(key, ["probe", path, n]))])
            opens[label] = {
                "native_first_us": nat[0] / 1000, "native_per_open_us": nat[1] / 1000,
                "runtime_first_us": rt[0] / 1000, "runtime_per_open_us": rt[1] / 1000,
                "runtime_failed_opens": rt[2],
            }
        results["open"] = opens
        launch: dict[str, Any] = {"native_exec_ms": wall([str(s.probe)], args.repeat) * 1000}
        for size in ("256M", "4G"):
            exe = s.bundle(f"launch{size}", ["probe"], enclave_size=size)
            launch[f"runtime_{size}_ms"] = wall([str(exe)], args.repeat) * 1000
        results["launch"] = launch
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"per-open cost, {args.opens} opens each (microseconds)")
    print(f"{'file':16} {'native':>9} {'runtime':>9} {'overhead':>9}   "
          "first open: native / runtime")
    for label, r in results["open"].items():
        note = " (EACCES)" if r["runtime_failed_opens"] else ""
        print(f"{label:16} {r['native_per_open_us']:9.2f} {r['runtime_per_open_us']:9.2f} "
              f"{r['runtime_per_open_us'] - r['native_per_open_us']:9.2f}   "
              f"{r['native_first_us']:.1f} / {r['runtime_first_us']:.1f}{note}")
    la = results["launch"]
    print("launch time, median of", args.repeat, "(milliseconds)")
    print(f"  native exec of the probe:       {la['native_exec_ms']:8.2f}")
    print(f"  runtime, enclave_size 256M:     {la['runtime_256M_ms']:8.2f}")
    print(f"  runtime, enclave_size 4G:       {la['runtime_4G_ms']:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
