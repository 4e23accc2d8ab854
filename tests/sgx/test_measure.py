"""MRENCLAVE: every vector, the error vector, bad PALs and parameters, and a cross-check of
the C core against a plain Python implementation of sgx-measurement.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsc.errors import InputError
from gsc.sgx.measure import (
    check_pal,
    measure_manifest,
    measure_with_layout,
    mrenclave,
    parse_enclave_size_c,
)
from gsc.sgx.params import SgxParams, parse_enclave_size

from .conftest import load_vectors
from .elfgen import Seg, make_elf
from .ref_measure import ref_mrenclave

V = load_vectors()


@pytest.mark.parametrize("case", V["measure"], ids=lambda c: c["name"])
def test_measure_vectors(sgx_dir: Path, case: dict[str, Any]) -> None:
    manifest = (sgx_dir / case["manifest"]).read_bytes()
    pal = (sgx_dir / case["pal"]).read_bytes()
    assert measure_manifest(manifest, pal).hex() == case["mrenclave"]


@pytest.mark.parametrize("case", V["sign"], ids=lambda c: c["name"])
def test_sign_vectors_mrenclave(sgx_dir: Path, case: dict[str, Any]) -> None:
    manifest = (sgx_dir / case["manifest_sgx"]).read_bytes()
    pal = (sgx_dir / case["pal"]).read_bytes()
    assert measure_manifest(manifest, pal).hex() == case["mrenclave"]


@pytest.mark.parametrize("case", V["errors"], ids=lambda c: c["name"])
def test_error_vectors(sgx_dir: Path, case: dict[str, Any]) -> None:
    manifest = (sgx_dir / case["manifest"]).read_bytes()
    pal = (sgx_dir / case["pal"]).read_bytes()
    with pytest.raises(InputError, match="enclave size is not large enough"):
        measure_manifest(manifest, pal)


def test_manifest_byte_change_changes_mrenclave(sgx_dir: Path) -> None:
    case = V["measure"][0]
    manifest = (sgx_dir / case["manifest"]).read_bytes()
    pal = (sgx_dir / case["pal"]).read_bytes()
    base = measure_manifest(manifest, pal)
    assert measure_manifest(manifest + b"\n", pal) != base
    assert measure_manifest(manifest.replace(b"\n", b"\r\n"), pal) != base


def test_layout_is_top_down(sgx_dir: Path) -> None:
    pal = (sgx_dir / "pal" / "two_seg.elf").read_bytes()
    params = SgxParams(enclave_size=64 << 20, max_threads=2)
    _, lay = measure_with_layout(b"x" * 5000, pal, params)
    assert lay.manifest_size == 0x2000
    assert lay.manifest_base == (64 << 20) - 0x2000
    assert lay.ssa_base == lay.manifest_base - 2 * 0x8000
    assert lay.tcs_base == lay.ssa_base - 2 * 0x1000
    assert lay.tls_base == lay.tcs_base - 2 * 0x1000
    assert lay.stack_low == lay.tls_base - 2 * 0x40000
    assert lay.sig_stack_low == lay.stack_low - 2 * 0x10000
    assert lay.pal_base == lay.sig_stack_low - lay.pal_size
    assert lay.free_base == 0x10000 and lay.free_size == lay.pal_base - 0x10000


# ------------------------------------------------------------------ cross-check


@st.composite
def pals(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(1, 3))
    segs: list[Seg] = []
    vaddr = draw(st.integers(0, 0xFFF))
    for _ in range(n):
        memsz = draw(st.integers(1, 0x5000))
        filesz = draw(st.integers(0, min(memsz, 0x3000)))
        flags = draw(st.integers(0, 7))
        segs.append(Seg(vaddr=vaddr, memsz=memsz, filesz=filesz, flags=flags))
        vaddr = ((vaddr + memsz + 0xFFF) & ~0xFFF) + draw(st.integers(0, 0x2FFF))
    entry = draw(st.integers(0, 0x10000))
    return make_elf(segs, entry=entry, fill=draw(st.integers(0, 255)))


@settings(max_examples=25, deadline=None)
@given(
    manifest=st.binary(max_size=9000),
    pal=pals(),
    threads=st.integers(1, 3),
    size_log=st.integers(22, 24),
    edmm=st.booleans(),
)
def test_c_core_matches_python_reference(
    manifest: bytes, pal: bytes, threads: int, size_log: int, edmm: bool
) -> None:
    params = SgxParams(enclave_size=1 << size_log, max_threads=threads, edmm_enable=edmm)
    want = ref_mrenclave(manifest, pal, 1 << size_log, threads, edmm)
    assert mrenclave(manifest, pal, params) == want


# ------------------------------------------------------------------ bad input

GOOD_SEGS = [Seg(vaddr=0, memsz=0x1000, filesz=0x100, flags=5)]


@pytest.mark.parametrize(
    ("pal", "message"),
    [
        (b"", "not an ELF"),
        (b"#!/bin/sh\necho hi\n" + bytes(100), "not an ELF"),
        (make_elf(GOOD_SEGS)[:40], "not an ELF"),
        (make_elf(GOOD_SEGS)[:100], "truncated"),
        (make_elf([Seg(vaddr=0, memsz=0x2000, filesz=0x1000)])[:0x1100], "truncated"),
        (make_elf(GOOD_SEGS, elf_class=1), "64-bit"),
        (make_elf(GOOD_SEGS, machine=183), "x86-64"),
        (make_elf(GOOD_SEGS, e_type=2), "position independent"),
        (make_elf([Seg(vaddr=0x400000, memsz=0x1000, filesz=0x10)]), "position independent"),
        (make_elf([Seg(vaddr=0, memsz=0x10, filesz=0x20)]), "p_filesz"),
        (make_elf([Seg(vaddr=0, memsz=0x10, filesz=0x10, p_type=6)]), "no PT_LOAD"),
        (make_elf([Seg(vaddr=1 << 50, memsz=0x10, filesz=0x10)]), "out of range"),
    ],
)
def test_bad_pal(pal: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        mrenclave(b"", pal, SgxParams(enclave_size=16 << 20, max_threads=1))
    with pytest.raises(InputError, match=message):
        check_pal(pal)


def test_pal_too_big_for_enclave() -> None:
    pal = make_elf([Seg(vaddr=0, memsz=0x2000000, filesz=0x10)])
    with pytest.raises(InputError, match="enclave size is not large enough"):
        mrenclave(b"", pal, SgxParams(enclave_size=16 << 20, max_threads=1))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("256M", 256 << 20),
        ("1G", 1 << 30),
        ("1024G", 1 << 40),
        ("4096", 4096),
        ("64K", 64 << 10),
        ("0", None),
        ("0M", None),
        ("3M", None),
        ("256m", None),
        ("", None),
        ("M", None),
        (" 256M", None),
        ("256M ", None),
        ("+256M", None),
        ("256MB", None),
        ("0x100", None),
        ("99999999999999999999G", None),
        ("17179869184G", None),  # 2**64
        ("8589934592G", 1 << 63),
    ],
)
def test_enclave_size_parsers_agree(text: str, value: int | None) -> None:
    assert parse_enclave_size(text) == value
    assert parse_enclave_size_c(text) == value


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789KMGk x", max_size=12))
def test_enclave_size_parsers_agree_random(text: str) -> None:
    assert parse_enclave_size(text) == parse_enclave_size_c(text)


BAD_MANIFESTS = [
    (b"\xff\xfe[sgx]\n", "not UTF-8"),
    (b"[sgx\nenclave_size = 1", "not valid TOML"),
    (b'[sgx]\nenclave_size = "abc"\n', "enclave_size"),
    (b'[sgx]\nenclave_size = "0"\n', "enclave_size"),
    (b'[sgx]\nenclave_size = "3M"\n', "enclave_size"),
    (b"[sgx]\nenclave_size = 268435456\n", "enclave_size"),
    (b"[sgx]\nmax_threads = 0\n", "max_threads"),
    (b"[sgx]\nmax_threads = 4097\n", "max_threads"),
    (b'[sgx]\nmax_threads = "4"\n', "max_threads"),
    (b"[sgx]\ndebug = 1\n", "debug"),
    (b"[sgx]\nisvsvn = 65536\n", "isvsvn"),
    (b"[sgx]\nisvprodid = -1\n", "isvprodid"),
    (b'[sgx.cpu_features]\nmpx = "unspecified"\n', "cpu_features.mpx"),
    (b'[sgx.cpu_features]\navx = "yes"\n', "cpu_features.avx"),
    (b'[sgx.cpu_features]\nsse = "required"\n', "cpu_features.sse"),
    (b'sgx = "x"\n', "sgx must be a table"),
]


@pytest.mark.parametrize(("manifest", "message"), BAD_MANIFESTS)
def test_bad_manifest_params(manifest: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        SgxParams.from_manifest_bytes(manifest, "m.toml")
    assert "m.toml" in str(info.value)


def test_params_defaults() -> None:
    p = SgxParams.from_manifest_bytes(b"")
    assert (p.enclave_size, p.max_threads, p.edmm_enable) == (256 << 20, 4, False)
    assert p.xfrm() == (0x3, 0xFFFFFFFFFFF9FF1B)
    q = SgxParams.from_manifest_bytes(b"[sgx]\nedmm_enable = true\n")
    assert q.enclave_size == 1 << 40


def test_xfrm_order() -> None:
    p = SgxParams.from_table({"cpu_features": {"avx": "required", "avx512": "disabled"}})
    value, mask = p.xfrm()
    assert value & 0x4 == 0  # avx512 disabled clears the avx bit again
    assert mask & 0xE4 == 0xE4
