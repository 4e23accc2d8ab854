"""Benchmark of the native runtime, native vs under gsc-runtime in the same run: per-open
cost in phase 1 and phase 2 (pinned and unpinned), launch time (small and large trusted
sets), and a forking workload. Each figure is printed beside its native baseline and the
target of issue 11.

    python benchmarks/bench_runtime.py [--opens N] [--repeat R] [--files F] [--json]

Per-open cost: a tiny static C probe (gcc -static) opens one file N times and reports ns per
open, natively and under the runtime (signed with the in-repo dev test key), for a trusted
4 KiB file, a trusted 1 MiB file, an allowed file and a denied one (EACCES). The probe
prints "ready" and waits for a byte on stdin before it measures, so the benchmark decides
in which phase the measurement runs:

* phase 1: the manifest also pins a decoy trusted file whose recorded hash is wrong. The
  background verifier marks it failed, which keeps phase 1 for good (docs/runtime.md,
  "Phases"); the benchmark checks the runtime's error line naming the decoy. Opens in
  phase 1 do not depend on why phase 1 holds (the same handler path runs while a large
  trusted set is still being verified).
* phase 2: no decoy; the benchmark waits until the background verifier thread (named
  gsc-verifier in /proc/PID/task/*/comm) has exited: it returns only after every
  trusted file is checked. Then it lets the probe go. A first launch of the same
  configuration at log level debug confirms that the runtime logged "phase 2" by then.
* at launch: the manifest sets gsc.verify_trusted_files = "at_launch" (what gsc build
  chooses for images that expose ports): every trusted file is hashed before the app
  starts, and opens are left out of the seccomp filter (Landlock alone decides), so an
  open costs what it costs natively.

"pinned" runs everything (runtime, app, verifier) under `taskset -c 1`: app and supervisor
share one CPU, which shows the CPU work per open without cross-CPU wake-ups.

Launch: wall time of starting the runtime with a probe that exits at once, at
enclave_size 256M, with the 3 trusted files of the probe setup and with --files real
files from /usr (every symlink in their directories pinned, as gsc build pins an image),
plus the runtime's own breakdown (namespace check, trusted-file table + Landlock rules)
from a debug-level launch. Forking workload: `dash -c 'for i in $(seq 200); do true;
done'` natively and under the runtime (dash, seq, true, the loader and libc trusted).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:  # the installed package (its native core is built); else the checkout
    import gsc  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO))
# the runtime tests' bundle helpers: symlink pins, executables, hashes, the dev test key
sys.path.insert(0, str(REPO / "tests" / "runtime"))

from rt_bundle import (  # noqa: E402
    DATE,
    dev_key,
    executable_uris,
    pinned_symlinks,
    sha256_file,
    trusted_dirs,
)

from gsc.manifest import schema  # noqa: E402
from gsc.sgx.sigstruct import sign_enclave  # noqa: E402

PRE_REDESIGN_LAUNCH_MS = 44.0  # 6,003 files, runtime before the Landlock redesign (issue 8)

PROBE_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static long long now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec; }
int main(int argc, char **argv) {
    if (argc < 3) return 0;
    int n = atoi(argv[2]), fails = 0;
    if (argc > 3 && strcmp(argv[3], "wait") == 0) {
        char c;
        if (write(1, "ready\n", 6) != 6 || read(0, &c, 1) != 1) return 3;
    }
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

FORK_SCRIPT = "for i in $(seq 200); do /usr/bin/true; done"


def usr_files(count: int, max_size: int = 1 << 20) -> list[str]:
    """`count` regular files from /usr whose path has no symlink (a trusted path is
    canonical) and that we can read: the program and library directories first (where
    an image's symlinks are), then a sorted walk of /usr."""
    out: list[str] = []
    seen: set[str] = set()

    def take(p: str) -> bool:
        try:
            st = os.lstat(p)
        except OSError:
            return False
        if (p in seen or not os.path.isfile(p) or os.path.islink(p) or st.st_size > max_size
                or os.path.realpath(p) != p or not os.access(p, os.R_OK)):
            return False
        seen.add(p)
        out.append(p)
        return len(out) >= count

    for d in ("/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu"):
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                if take(os.path.join(d, name)):
                    return out
    for root, dirs, files in os.walk("/usr"):
        dirs.sort()
        for name in sorted(files):
            if take(os.path.join(root, name)):
                return out
    return out


def elf_closure(programs: list[str]) -> list[str]:
    out: set[str] = set()
    for prog in programs:
        real = os.path.realpath(prog)
        out.add(real)
        res = subprocess.run(["ldd", real], capture_output=True, text=True, check=False)
        for tok in res.stdout.split():
            if tok.startswith("/"):
                out.add(os.path.realpath(tok))
    return sorted(p for p in out if os.path.isfile(p))


class Setup:
    def __init__(self, root: Path, runtime: Path, legacy: bool = False) -> None:
        self.root = root
        self.legacy = legacy  # no gsc.executables: a runtime that predates the key
        self.runtime = runtime
        self.probe = root / "probe"
        src = root / "probe.c"
        src.write_text(PROBE_C)
        subprocess.run(["gcc", "-O2", "-static", str(src), "-o", str(self.probe)], check=True)
        self.files = {
            "trusted 4 KiB": root / "t_small.bin",
            "trusted 1 MiB": root / "t_1m.bin",
            "allowed": root / "rw" / "a.bin",
            "denied": root / "d.bin",
        }
        (root / "rw").mkdir()
        self.files["trusted 4 KiB"].write_bytes(os.urandom(4096))
        self.files["trusted 1 MiB"].write_bytes(os.urandom(1 << 20))
        self.files["allowed"].write_bytes(b"a" * 4096)
        self.files["denied"].write_bytes(b"d" * 4096)
        self.decoy = root / "decoy.bin"
        self.decoy.write_bytes(b"decoy" * 100)
        self.key = dev_key()
        self.hashes: dict[str, str] = {}
        self.n = 0

    def hash_of(self, p: str) -> str:
        if p not in self.hashes:
            self.hashes[p] = sha256_file(p)
        return self.hashes[p]

    def bundle(self, argv: list[str], entrypoint: str | None = None,
               trusted: list[str] | None = None, enclave_size: str = "256M",
               decoy: bool = False, log_level: str = "error",
               env: dict[str, str] | None = None, at_launch: bool = False) -> Path:
        self.n += 1
        d = self.root / f"b{self.n}" / "gsc"
        d.mkdir(parents=True)
        shutil.copyfile(self.runtime, d / "gsc-runtime")
        (d / "gsc-runtime").chmod(0o755)
        if trusted is None:
            trusted = [str(self.probe), str(self.files["trusted 4 KiB"]),
                       str(self.files["trusted 1 MiB"])]
        entries = [{"uri": f"file:{p}", "sha256": self.hash_of(p)} for p in sorted(set(trusted))]
        if decoy:  # a wrong hash: the verifier fails it and phase 1 holds
            entries.append({"uri": f"file:{self.decoy}", "sha256": "00" * 32})
            entries.sort(key=lambda e: e["uri"])
        doc: dict[str, Any] = {
            "libos": {"entrypoint": entrypoint or str(self.probe)},
            "loader": {"argv": argv, "log_level": log_level},
            "fs": {"start_dir": str(self.root)},
            "sgx": {
                "enclave_size": enclave_size,
                "trusted_files": entries,
                "allowed_files": [f"file:{self.root / 'rw'}"],
            },
        }
        if env:
            doc["loader"]["env"] = env
        links = pinned_symlinks([e["uri"][5:] for e in entries])
        if links:  # the runtime refuses unpinned symlinks in trusted directories
            doc["gsc"] = {"symlinks": links}
        # as gsc build writes it: the trusted files with an x bit (EXECUTE per file only;
        # directories whose listing holds only trusted names get one rule)
        exe = executable_uris(doc)
        if exe and not self.legacy:
            doc.setdefault("gsc", {})["executables"] = exe
        if at_launch:
            doc.setdefault("gsc", {})["verify_trusted_files"] = "at_launch"
        data = schema.render(doc, "bench manifest")
        (d / "entrypoint.manifest.sgx").write_bytes(data)
        (d / "entrypoint.sig").write_bytes(
            sign_enclave(data, (d / "gsc-runtime").read_bytes(), self.key, DATE))
        return d / "gsc-runtime"


def verifier_running(pid: int) -> bool:
    """The runtime's background verifier thread (named gsc-verifier) still exists. An
    older runtime does not name its threads: there the verifier is its only other thread."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    names = []
    for t in tids:
        try:
            names.append(Path(f"/proc/{pid}/task/{t}/comm").read_text().strip())
        except OSError:
            continue
    if "gsc-verifier" in names:
        return True
    return "gsc-notify" not in names and len(names) > 1


def run_waiting(cmd: list[str], phase: int, timeout: float = 120) -> tuple[list[int], str]:
    """Start cmd (the runtime running the probe in wait mode); once the probe is ready and
    the runtime is in the wanted phase, let it measure. Returns (first, per, fails) and
    the runtime's stderr."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env={})
    assert p.stdin and p.stdout and p.stderr
    line = p.stdout.readline()
    if line.strip() != b"ready":
        p.kill()
        raise RuntimeError(f"probe did not start: {line!r} {p.stderr.read()!r}")
    rt_pid = p.pid  # taskset execs the runtime: same pid
    deadline = time.monotonic() + timeout
    err = b""
    while verifier_running(rt_pid):
        if time.monotonic() > deadline:
            p.kill()
            raise RuntimeError("the background verifier did not finish")
        # drain stderr so the runtime never blocks on a full pipe
        if select.select([p.stderr], [], [], 0.005)[0]:
            err += os.read(p.stderr.fileno(), 65536)
    if phase == 1:
        # the decoy's failure line must be there: phase 1 holds for good
        while b"decoy.bin" not in err:
            if time.monotonic() > deadline:
                p.kill()
                raise RuntimeError("the decoy was not reported: not known to be phase 1")
            if select.select([p.stderr], [], [], 0.05)[0]:
                err += os.read(p.stderr.fileno(), 65536)
    p.stdin.write(b"g")
    p.stdin.flush()
    out, rest = p.communicate(timeout=timeout)
    first, per, fails = (int(x) for x in out.split())
    return [first, per, fails], (err + rest).decode(errors="replace")


def run_native(probe: Path, path: str, n: int, pin: bool) -> list[int]:
    cmd = (["taskset", "-c", "1"] if pin else []) + [str(probe), path, str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={}).stdout
    return [int(x) for x in out.split()]


def wall(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env or {})
        times.append((time.perf_counter() - t0) * 1000)
    return times


def launch_breakdown(exe: Path) -> dict[str, float]:
    """The runtime's own timings, from a debug-level launch."""
    res = subprocess.run([str(exe)], capture_output=True, text=True, check=True, env={})
    out: dict[str, float] = {}
    m = re.search(r"namespace check: .*?([0-9.]+) ms", res.stderr)
    if m:
        out["nscheck_ms"] = float(m.group(1))
    m = re.search(r"Landlock ABI .*?([0-9.]+) ms", res.stderr)
    if m:
        out["table_landlock_ms"] = float(m.group(1))
    m = re.search(r"(\d+) directory rules covering (\d+) trusted files", res.stderr)
    if m:
        out["dir_rules"] = float(m.group(1))
        out["files_under_dir_rules"] = float(m.group(2))
    m = re.search(r"launch policy: measured launch and setup ([0-9.]+) ms", res.stderr)
    if m:
        out["measured_launch_ms"] = float(m.group(1))
    # since the launch measurement overlaps the policy preparation: when the launch is done
    m = re.search(r"launch ready at ([0-9.]+) ms", res.stderr)
    if m:
        out["launch_ready_ms"] = float(m.group(1))
    return out


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--opens", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--files", type=int, default=6000,
                    help="trusted files from /usr for the large launch (default 6000)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-build", action="store_true", help="do not run make first")
    ap.add_argument("--runtime", type=Path, default=REPO / "runtime" / "build" / "gsc-runtime")
    ap.add_argument("--legacy-manifest", action="store_true",
                    help="no gsc.executables (for a runtime that predates the key)")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["make", "-s", "-C", str(REPO / "runtime"), "runtime"], check=True)
    results: dict[str, Any] = {"opens": args.opens, "repeat": args.repeat}
    # /var/tmp: other jobs change /tmp's symlinks, which the namespace pin would refuse
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        s = Setup(Path(tmp), args.runtime, args.legacy_manifest)
        n = str(args.opens)
        opens: dict[str, Any] = {}
        # phase 2 is confirmed once per configuration at debug level
        dbg = s.bundle(["probe", str(s.files["denied"]), "0", "wait"], log_level="debug")
        _, log = run_waiting([str(dbg)], 2)
        if "phase 2" not in log:
            raise RuntimeError("the verifier finished but the runtime did not log phase 2:\n"
                               + log[-2000:])
        for label, path in s.files.items():
            row: dict[str, Any] = {}
            for pin in (False, True):
                tag = "pinned" if pin else "unpinned"
                pre = ["taskset", "-c", "1"] if pin else []
                row[f"native_{tag}"] = run_native(s.probe, str(path), args.opens, pin)
                for phase in (1, 2):
                    exe = s.bundle(["probe", str(path), n, "wait"], decoy=phase == 1)
                    row[f"phase{phase}_{tag}"], _ = run_waiting([*pre, str(exe)], phase)
                exe = s.bundle(["probe", str(path), n, "wait"], at_launch=True)
                row[f"at_launch_{tag}"], _ = run_waiting([*pre, str(exe)], 2)
            opens[label] = row
        results["open"] = opens

        launch: dict[str, Any] = {"native_exec_ms": med(wall([str(s.probe)], args.repeat))}
        small = s.bundle(["probe"])
        launch["small_trusted"] = 3
        launch["small_ms"] = med(wall([str(small)], args.repeat))
        files = [*usr_files(args.files), str(s.probe)]
        big = s.bundle(["probe"], trusted=files)
        big_dbg = s.bundle(["probe"], trusted=files, log_level="debug")
        launch["large_trusted"] = len(files)
        launch["large_symlinks"] = len(pinned_symlinks(files))
        launch["large_dirs"] = len(trusted_dirs(files))
        launch["large_ms"] = med(wall([str(big)], args.repeat))
        launch["large_breakdown"] = launch_breakdown(big_dbg)
        launch["4G_ms"] = med(wall([str(s.bundle(["probe"], enclave_size="4G"))],
                                   max(3, args.repeat // 2)))
        results["launch"] = launch

        progs = ["/usr/bin/dash", "/usr/bin/seq", "/usr/bin/true"]
        fork_trusted = elf_closure(progs)
        if os.path.exists("/etc/ld.so.cache"):
            fork_trusted.append("/etc/ld.so.cache")
        env = {"PATH": "/usr/bin"}
        forker = s.bundle(["sh", "-c", FORK_SCRIPT], entrypoint="/usr/bin/dash",
                          trusted=fork_trusted, env=env)
        forker_al = s.bundle(["sh", "-c", FORK_SCRIPT], entrypoint="/usr/bin/dash",
                             trusted=fork_trusted, env=env, at_launch=True)
        nat, rt, rt_al = [], [], []
        for _ in range(args.repeat):  # alternating, so drift hits every side alike
            nat += wall(["/usr/bin/dash", "-c", FORK_SCRIPT], 1, env)
            rt += wall([str(forker)], 1)
            rt_al += wall([str(forker_al)], 1)
        results["fork"] = {"native_ms": med(nat), "runtime_ms": med(rt),
                           "runtime_at_launch_ms": med(rt_al),
                           "runtime_launch_ms": launch["small_ms"]}
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    report(results)
    return 0


def report(r: dict[str, Any]) -> None:
    print(f"per-open cost, {r['opens']} opens each, microseconds (first open in brackets)")
    print(f"{'file':14} {'cpu':9} {'native':>8} {'phase 1':>16} {'phase 2':>16} "
          f"{'at launch':>16}  target")
    for label, row in r["open"].items():
        target = "<= 10" if "1 MiB" not in label else ""
        for tag in ("unpinned", "pinned"):
            nat = row[f"native_{tag}"]
            cells = []
            for key in ("phase1", "phase2", "at_launch"):
                v = row[f"{key}_{tag}"]
                note = "E" if v[2] else ""
                cells.append(f"{v[1] / 1000:7.2f} ({v[0] / 1000:6.1f}){note}")
            print(f"{label:14} {tag:9} {nat[1] / 1000:8.2f} {cells[0]:>16} {cells[1]:>16} "
                  f"{cells[2]:>16}  {target}")
    print("  (E: the runtime refused the opens, EACCES, as the policy says for the denied "
          "file)")
    la = r["launch"]
    print(f"launch time, median of {r['repeat']}, milliseconds (enclave_size 256M)")
    print(f"  native exec of the probe:                   {la['native_exec_ms']:8.2f}")
    print(f"  runtime, {la['small_trusted']} trusted files:                  "
          f"{la['small_ms']:8.2f}")
    bd = la.get("large_breakdown", {})
    print(f"  runtime, {la['large_trusted']} trusted files, {la['large_symlinks']} pinned "
          f"symlinks, {la['large_dirs']} dirs: {la['large_ms']:8.2f}   target <= "
          f"{PRE_REDESIGN_LAUNCH_MS * 1.1:.1f} (1.1 x {PRE_REDESIGN_LAUNCH_MS:.0f} ms before "
          "the redesign)")
    if bd:
        print("    of which (runtime's own clock, one debug launch): " +
              ", ".join(f"{k[:-3]} {v:.2f} ms" for k, v in bd.items() if k.endswith("_ms")))
        if "dir_rules" in bd:
            print(f"    {bd['dir_rules']:.0f} directory rules covering "
                  f"{bd['files_under_dir_rules']:.0f} trusted files (not opened at launch)")
    print(f"  runtime, 3 trusted files, enclave_size 4G:   {la['4G_ms']:8.2f}")
    f = r["fork"]
    print(f"forking workload ({FORK_SCRIPT}), median wall ms:")
    print(f"  native {f['native_ms']:.1f}, runtime {f['runtime_ms']:.1f} "
          f"({f['runtime_ms'] / f['native_ms']:.2f}x; "
          f"of which launch ~{f['runtime_launch_ms']:.0f}), verified at launch "
          f"{f['runtime_at_launch_ms']:.1f} ({f['runtime_at_launch_ms'] / f['native_ms']:.2f}x)"
          "   target <= 1.5x")


if __name__ == "__main__":
    raise SystemExit(main())
