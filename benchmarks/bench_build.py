#!/usr/bin/env python3
"""End-to-end benchmark of shielded images, with baselines measured in the same run.

    python benchmarks/bench_build.py [--base gsc-local/debian:bookworm] [--runs 10]

Prints, for the python and nginx examples:
  build       `gsc build` (wall seconds) vs `docker save IMAGE | sha256sum`   target <= 2x
  size        bytes the shielded image adds to the original                  target <= 3 MB
  startup     `docker run` of `python3 -c pass`, shielded vs original        target <= 1.3x
  throughput  nginx requests/s with wrk on loopback, shielded vs original    target >= 0.95x
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sh(*cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def example(name: str, base: str) -> str:
    tag = f"gsc-example/{name}:latest"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode:
        sh("docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", tag,
           str(REPO / "examples" / name))
    return tag


def gsc(*args: str) -> dict[str, object]:
    out = sh(sys.executable, "-P", "-m", "gsc", *args, "--json", "-q").stdout
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def save_and_hash(ref: str) -> None:
    """The baseline: `docker save REF | sha256sum`."""
    save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
    subprocess.run(["sha256sum"], stdin=save.stdout, check=True, capture_output=True)
    if save.stdout is not None:
        save.stdout.close()
    if save.wait() != 0:
        raise RuntimeError(f"docker save {ref} failed")


def image_size(ref: str) -> int:
    return int(sh("docker", "image", "inspect", "-f", "{{.Size}}", ref).stdout.strip())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk_rps(image: str, seconds: int) -> float:
    port = free_port()
    cid = sh("docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", image).stdout.strip()
    try:
        for _ in range(100):
            if subprocess.run(["curl", "-fs", f"http://127.0.0.1:{port}/"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        out = sh("wrk", "-t2", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/").stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        assert m, out
        return float(m.group(1))
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", default="gsc-local/debian:bookworm")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--wrk-seconds", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key.pem"
        sh(sys.executable, "-P", "-m", "gsc", "gen-key", str(key))
        rows: list[tuple[str, str, str, str]] = []

        for name, extra in (("python", []), ("nginx", [str(REPO / "examples/nginx/gsc.toml")])):
            src = example(name, args.base)
            base_s = timed(lambda src=src: save_and_hash(src))
            t0 = time.perf_counter()
            res = gsc("build", src, *extra, "-k", str(key), "-t", f"gsc-bench/{name}:latest")
            build_s = time.perf_counter() - t0
            rows.append((f"build {name}", f"{build_s:.2f} s",
                         f"{base_s:.2f} s (docker save|sha256sum)", f"{build_s / base_s:.2f}x"))
            added = image_size(f"gsc-bench/{name}:latest") - image_size(src)
            rows.append((f"size {name}", f"+{added / 1e6:.2f} MB",
                         f"{image_size(src) / 1e6:.1f} MB original",
                         f"{res['trusted_files']} trusted files"))

        # Startup: python3 -c pass, pinned in the manifest, vs the same command natively.
        src = example("python", args.base)
        manifest = Path(tmp) / "pass.toml"
        manifest.write_text('[loader]\nargv = ["python3", "-c", "pass"]\n'
                            '[libos]\nentrypoint = "/usr/bin/python3.11"\n')
        gsc("build", src, str(manifest), "-k", str(key), "-t", "gsc-bench/python-pass:latest")
        native, shielded = [], []
        for _ in range(args.runs):
            native.append(timed(lambda: sh("docker", "run", "--rm", "--entrypoint", "python3",
                                           src, "-c", "pass")))
            shielded.append(timed(lambda: sh("docker", "run", "--rm",
                                              "gsc-bench/python-pass:latest")))
        n, s = statistics.median(native), statistics.median(shielded)
        rows.append(("startup python3 -c pass", f"{s * 1000:.0f} ms", f"{n * 1000:.0f} ms native",
                     f"{s / n:.2f}x (+{(s - n) * 1000:.0f} ms)"))

        if shutil.which("wrk"):
            src = example("nginx", args.base)
            native_rps = wrk_rps(src, args.wrk_seconds)
            shielded_rps = wrk_rps("gsc-bench/nginx:latest", args.wrk_seconds)
            rows.append(("nginx throughput", f"{shielded_rps:.0f} req/s",
                         f"{native_rps:.0f} req/s native", f"{shielded_rps / native_rps:.2f}x"))
        else:
            rows.append(("nginx throughput", "skipped", "wrk not installed", "-"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'gsc':>14}  {'baseline':>34}  ratio")
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>14}  {r[2]:>34}  {r[3]}")
    for tag in ("gsc-bench/python:latest", "gsc-bench/nginx:latest",
                "gsc-bench/python-pass:latest"):
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
