#!/usr/bin/env python3
"""Benchmark: MRENCLAVE of a 64 GiB, 64-thread, non-EDMM enclave.

Measures, in one run:
  C     the C core (gsc._native, SHA-NI when the CPU has it) computing the full MRENCLAVE;
  (a)   a straightforward pure-Python loop (struct.pack + hashlib update per record) over
        the same records: all measured pages fully, plus 1/FRACTION of the free-area EADD
        records, extrapolated linearly to the whole free area (this is stated in the output);
  (b)   plain hashlib.sha256 over a buffer of the same total byte count, fed in 1 MiB chunks.
Prints the numbers and the ratios C/(b) (target <= 1.25) and (a)/C (target >= 3).

Usage: python benchmarks/bench_measure.py [--size 64G] [--threads 64] [--fraction 64] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# After site-packages: the installed gsc (its native core is built) comes first, else the
# checkout's.
sys.path.append(str(ROOT))

from gsc.sgx.measure import EnclaveLayout, measure_with_layout  # noqa: E402
from gsc.sgx.native import core  # noqa: E402
from gsc.sgx.params import SgxParams, parse_enclave_size  # noqa: E402

PAGE = 0x1000
RECORD = 64
MEASURED_PAGE_BYTES = RECORD + 16 * (RECORD + 256)


def _pal() -> bytes:
    """A small PIE ELF: two PT_LOAD segments (R-X text, RW- data+bss)."""
    phdrs = [(1, 5, 0, 0, 0x1800, 0x1800), (1, 6, 0x2000, 0x2000, 0x400, 0x3000)]
    hdr = bytearray(64)
    hdr[0:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<HHIQQQIHHHHHH", hdr, 16, 3, 62, 1, 0x1000, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    body = bytearray(0x2400)
    body[0:64] = hdr
    for i, (t, fl, off, va, fsz, msz) in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", body, 64 + 56 * i, t, fl, off, va, va, fsz, msz, 0x1000)
    for i in range(0x200, len(body)):
        body[i] = (i * 13) & 0xFF
    return bytes(body)


def _pal_segments(pal: bytes) -> list[tuple[int, int, int, int, int]]:
    phoff = struct.unpack_from("<Q", pal, 32)[0]
    phnum = struct.unpack_from("<H", pal, 56)[0]
    segs = []
    for i in range(phnum):
        t, fl, off, va, _, fsz, msz, _ = struct.unpack_from("<IIQQQQQQ", pal, phoff + 56 * i)
        if t == 1:
            segs.append((fl, off, va, fsz, msz))
    return segs


def measured_page_count(lay: EnclaveLayout, pal: bytes) -> int:
    n = lay.max_threads
    pages = lay.manifest_size // PAGE + n * 8 + n + n + n * 64 + n * 16
    for _, _, va, _, msz in _pal_segments(pal):
        pages += ((va + msz + PAGE - 1) // PAGE) - (va // PAGE)
    return pages


def python_loop(
    lay: EnclaveLayout, pal: bytes, manifest: bytes, free_pages: int
) -> tuple[float, float]:
    """Plain Python over the measured pages (all) and `free_pages` free-area EADD records."""
    h = hashlib.sha256()
    t0 = time.perf_counter()
    h.update(b"ECREATE\0" + struct.pack("<IQ", 4, lay.enclave_size) + bytes(44))

    def page(addr: int, flags: int, data: bytes) -> None:
        h.update(b"EADD\0\0\0\0" + struct.pack("<QQ", addr, flags) + bytes(40))
        for i in range(0, PAGE, 256):
            h.update(b"EEXTEND\0" + struct.pack("<Q", addr + i) + bytes(48))
            h.update(data[i : i + 256])

    blob = manifest + b"\0"
    blob += bytes(lay.manifest_size - len(blob))
    for off in range(0, lay.manifest_size, PAGE):
        page(lay.manifest_base + off, 0x201, blob[off : off + PAGE])
    zero = bytes(PAGE)
    n = lay.max_threads
    for addr in range(lay.ssa_base, lay.ssa_base + n * 0x8000, PAGE):
        page(addr, 0x203, zero)
    for t in range(n):  # TCS/TLS contents do not change the cost; zero pages stand in
        page(lay.tcs_base + PAGE * t, 0x100, zero)
    for t in range(n):
        page(lay.tls_base + PAGE * t, 0x203, zero)
    for addr in range(lay.stack_low, lay.tls_base, PAGE):
        page(addr, 0x203, zero)
    for addr in range(lay.sig_stack_low, lay.stack_low, PAGE):
        page(addr, 0x203, zero)
    for fl, _, va, _, msz in _pal_segments(pal):
        for a in range(va // PAGE * PAGE, (va + msz + PAGE - 1) // PAGE * PAGE, PAGE):
            page(lay.pal_base + a, 0x200 | fl, zero)
    t1 = time.perf_counter()
    addr = lay.free_base
    for _ in range(free_pages):
        h.update(b"EADD\0\0\0\0" + struct.pack("<QQ", addr, 0x207) + bytes(40))
        addr += PAGE
    t2 = time.perf_counter()
    h.digest()
    return (t1 - t0), (t2 - t1)


def hashlib_baseline(total: int, chunk: int = 1 << 20) -> float:
    buf = memoryview(bytes(chunk))
    h = hashlib.sha256()
    t0 = time.perf_counter()
    left = total
    while left >= chunk:
        h.update(buf)
        left -= chunk
    h.update(buf[:left])
    h.digest()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", default="64G")
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--fraction", type=int, default=64, help="time 1/N of the free pages in Python")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for C and hashlib")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    size = parse_enclave_size(args.size)
    if size is None:
        ap.error("bad --size")
    params = SgxParams(enclave_size=size, max_threads=args.threads, edmm_enable=False)
    manifest = f'[sgx]\nenclave_size = "{args.size}"\nmax_threads = {args.threads}\n'.encode()
    pal = _pal()
    _, lib = core()

    c_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        mr, lay = measure_with_layout(manifest, pal, params)
        c_times.append(time.perf_counter() - t0)
    c_time = min(c_times)

    free_pages = lay.free_size // PAGE
    measured = measured_page_count(lay, pal)
    total = RECORD + measured * MEASURED_PAGE_BYTES + free_pages * RECORD

    b_time = min(hashlib_baseline(total) for _ in range(args.repeat))

    sample = free_pages // args.fraction
    py_measured, py_sample = python_loop(lay, pal, manifest, sample)
    py_time = py_measured + py_sample * (free_pages / sample)

    result = {
        "enclave_size": size,
        "max_threads": args.threads,
        "mrenclave": mr.hex(),
        "sha_ni": bool(lib.gsc_sha256_accelerated()),
        "free_pages": free_pages,
        "measured_pages": measured,
        "sha256_input_bytes": total,
        "c_core_s": round(c_time, 3),
        "hashlib_same_bytes_s": round(b_time, 3),
        "python_loop_s_extrapolated": round(py_time, 3),
        "python_free_fraction": f"1/{args.fraction}",
        "c_over_hashlib": round(c_time / b_time, 3),
        "python_over_c": round(py_time / c_time, 2),
        "c_core_MBps": round(total / c_time / 1e6, 1),
        "hashlib_MBps": round(total / b_time / 1e6, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    gib = total / (1 << 30)
    print(f"MRENCLAVE of a {args.size} enclave, {args.threads} threads, non-EDMM")
    print(
        f"  {free_pages} free-area EADD records + {measured} measured pages "
        f"= {total} bytes ({gib:.3f} GiB) of SHA-256 input; SHA-NI: {result['sha_ni']}"
    )
    print(f"  mrenclave {mr.hex()}")
    best = f"best of {args.repeat}"
    print(f"  C core                   {c_time:8.3f} s  ({result['c_core_MBps']} MB/s, {best})")
    print(f"  (b) hashlib, same bytes  {b_time:8.3f} s  ({result['hashlib_MBps']} MB/s, {best})")
    print(
        f"  (a) pure-Python loop     {py_time:8.3f} s  (extrapolated: measured pages in full "
        f"{py_measured:.3f} s + 1/{args.fraction} of the free records {py_sample:.3f} s "
        f"x {free_pages / sample:.1f})"
    )
    ok_b = c_time / b_time <= 1.25
    ok_a = py_time / c_time >= 3
    print(f"  C / (b) = {c_time / b_time:.3f}   (target <= 1.25: {'met' if ok_b else 'NOT met'})")
    print(f"  (a) / C = {py_time / c_time:.1f}    (target >= 3: {'met' if ok_a else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
