#!/usr/bin/env python3
"""Benchmark: decrypting a 100 MiB Gramine encrypted file, against plain `cat` in the same run.

Measures, on one file made here (random plaintext, encrypted with gsc's writer), with the
page cache warm for every contestant (best of --repeat runs each):
  cat-plain   `cat PLAINTEXT > /dev/null`
  cat-enc     `cat ENCRYPTED > /dev/null` (the same bytes the decryptors read)
  python      gsc.pfs.PfReader (cryptography/OpenSSL AES-GCM), 1 MiB reads, every node verified
  c           runtime/core/pf.c through cffi (mbedtls AES-GCM), 1 MiB reads into one buffer
  cli         `gsc pf-crypt decrypt` end to end (process start, atomic 0600 output file)
  encrypt     gsc.pfs.encrypt_stream (Python writer) into a temp file
Prints MiB/s for each and the ratios to cat-enc.

Run with the installed gsc: .venv/bin/python benchmarks/bench_pfs.py [--mib 100] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gsc.pfs import PfReader, encrypt_stream, fd_source
from gsc.pfs.native import CReader

CHUNK = 1 << 20


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    size = args.mib << 20
    key = os.urandom(16)
    with tempfile.TemporaryDirectory(prefix="bench_pfs.") as d:
        tmp = Path(d)
        plain, enc, keyfile = tmp / "plain.bin", tmp / "enc.pf", tmp / "wrap.key"
        with open(plain, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(CHUNK))
        keyfile.write_bytes(key)
        keyfile.chmod(0o600)
        want = hashlib.sha256(plain.read_bytes()).hexdigest()

        def encrypt() -> None:
            with open(plain, "rb") as src, open(enc, "w+b") as dst:
                encrypt_stream(src, size, dst, key, "enc.pf")

        t_enc = best(encrypt, 1)

        def cat(p: Path) -> Callable[[], object]:
            return lambda: subprocess.run(["cat", str(p)], stdout=subprocess.DEVNULL, check=True)

        cat(plain)()
        cat(enc)()  # warm the page cache

        def py() -> str:
            h = hashlib.sha256()
            fd = os.open(enc, os.O_RDONLY)
            try:
                r = PfReader(fd_source(fd), os.fstat(fd).st_size, key, "enc.pf")
                off = 0
                while off < r.size:
                    chunk = r.read(off, CHUNK)
                    off += len(chunk)
                    h.update(chunk)
            finally:
                os.close(fd)
            return h.hexdigest()

        def c() -> None:
            fd = os.open(enc, os.O_RDONLY)
            try:
                r = CReader(key, "enc.pf", fd=fd)
                off = 0
                while off < r.size:
                    off += r.readinto(off, r._buf, CHUNK // 4)  # 256 KiB = the reader's buffer
                r.close()
            finally:
                os.close(fd)

        def cli() -> None:
            out = tmp / "dec.bin"
            subprocess.run(
                [sys.executable, "-P", "-m", "gsc", "pf-crypt", "decrypt", "-w", str(keyfile),
                 "-i", str(enc), "-o", str(out), "--path", "enc.pf"],
                check=True, stderr=subprocess.DEVNULL,
            )

        assert py() == want, "python reader: wrong plaintext"
        cli()
        assert hashlib.sha256((tmp / "dec.bin").read_bytes()).hexdigest() == want
        res = {
            "cat-plain": best(cat(plain), args.repeat),
            "cat-enc": best(cat(enc), args.repeat),
            "python": best(py, args.repeat),
            "c": best(c, args.repeat),
            "cli": best(cli, args.repeat),
            "encrypt": t_enc,
        }
    mibs = {k: args.mib / v for k, v in res.items()}
    if args.json:
        print(json.dumps({"mib": args.mib, "seconds": res, "mib_per_s": mibs}))
        return 0
    print(f"pfs benchmark: {args.mib} MiB, best of {args.repeat} (encrypt: 1 run)")
    for k, v in res.items():
        ratio = res[k] / res["cat-enc"]
        print(f"  {k:10s} {v:8.3f} s  {mibs[k]:9.1f} MiB/s  ({ratio:5.1f}x cat-enc time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
