"""Build the C core plus runtime/tests/check_core.c with ASan+UBSan and run every vector
(and the bad PALs) through it: the same C the runtime links, checked for memory errors."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from capabilities import need

from .conftest import REPO, load_vectors
from .elfgen import Seg, make_elf

pytestmark = pytest.mark.sanitizers
V = load_vectors()
CORE = REPO / "runtime" / "core"


@pytest.fixture(scope="module")
def check_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        need("gcc", False, "gcc not available")
        raise AssertionError
    out = tmp_path_factory.mktemp("asan") / "check_core"
    srcs = [CORE / f"{n}.c" for n in ("sha256", "measure", "sigstruct", "coreutil")]
    cmd = [
        gcc,
        "-std=c11",
        "-O1",
        "-g",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
        "-fno-omit-frame-pointer",
        f"-I{CORE}",
        *map(str, srcs),
        str(REPO / "runtime" / "tests" / "check_core.c"),
        "-lmbedcrypto",
        "-o",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def _run(binary: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "halt_on_error=1"}
    return subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def _params(manifest: Path) -> tuple[str, str, str]:
    sgx = tomllib.loads(manifest.read_text()).get("sgx", {})
    edmm = bool(sgx.get("edmm_enable", False))
    size = sgx.get("enclave_size", "1024G" if edmm else "256M")
    return size, str(sgx.get("max_threads", 4)), "1" if edmm else "0"


def _no_sanitizer_report(res: subprocess.CompletedProcess[str]) -> None:
    assert "Sanitizer" not in res.stderr and "runtime error" not in res.stderr, res.stderr


@pytest.mark.parametrize("case", V["measure"] + V["sign"], ids=lambda c: c["name"])
def test_measure_vectors_asan(check_core: Path, sgx_dir: Path, case: dict[str, Any]) -> None:
    manifest = sgx_dir / case.get("manifest", case.get("manifest_sgx", ""))
    res = _run(check_core, "measure", manifest, sgx_dir / case["pal"], *_params(manifest))
    _no_sanitizer_report(res)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == case["mrenclave"]


@pytest.mark.parametrize("case", V["errors"], ids=lambda c: c["name"])
def test_error_vectors_asan(check_core: Path, sgx_dir: Path, case: dict[str, Any]) -> None:
    manifest = sgx_dir / case["manifest"]
    res = _run(check_core, "measure", manifest, sgx_dir / case["pal"], *_params(manifest))
    _no_sanitizer_report(res)
    assert res.returncode == 1
    assert "enclave size is not large enough" in res.stderr


@pytest.mark.parametrize("case", V["sign"], ids=lambda c: c["name"])
def test_verify_vectors_asan(
    check_core: Path, sgx_dir: Path, case: dict[str, Any], tmp_path: Path
) -> None:
    sig = sgx_dir / case["sig"]
    res = _run(check_core, "verify", sig)
    _no_sanitizer_report(res)
    assert res.returncode == 0, res.stderr
    fields = dict(line.split(" ", 1) for line in res.stdout.strip().splitlines())
    assert fields["mrenclave"] == case["mrenclave"]
    assert fields["mrsigner"] == case["mrsigner"]
    assert (
        fields["date"]
        == case["fields"]["date_bcd_hex"][6:8]
        + case["fields"]["date_bcd_hex"][4:6]
        + case["fields"]["date_bcd_hex"][2:4]
        + case["fields"]["date_bcd_hex"][0:2]
    )
    raw = sig.read_bytes()
    for name, bad in {
        "short": raw[:-7],
        "sigflip": raw[:700] + bytes([raw[700] ^ 0x80]) + raw[701:],
        "q2flip": raw[:-1] + bytes([raw[-1] ^ 1]),
        "modflip": raw[:300] + bytes([raw[300] ^ 4]) + raw[301:],
        "zeros": bytes(len(raw)),
    }.items():
        p = tmp_path / f"{name}.sig"
        p.write_bytes(bad)
        res = _run(check_core, "verify", p)
        _no_sanitizer_report(res)
        assert res.returncode == 1, name


def test_sha256_asan(check_core: Path, tmp_path: Path) -> None:
    import hashlib

    for n in (0, 1, 63, 64, 65, 1000, 70000):
        p = tmp_path / f"d{n}"
        data = bytes((i * 31 + 7) & 0xFF for i in range(n))
        p.write_bytes(data)
        res = _run(check_core, "sha256", p)
        _no_sanitizer_report(res)
        assert res.stdout.strip() == hashlib.sha256(data).hexdigest()


def test_bad_pals_asan(check_core: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m"
    manifest.write_bytes(b"[sgx]\n")
    good = make_elf([Seg(vaddr=0, memsz=0x3000, filesz=0x1800, flags=7)])
    bads = [good[:n] for n in (0, 3, 63, 64, 100, 119, 120, 0x1000, len(good) - 1)]
    bads += [
        make_elf([Seg(vaddr=0, memsz=0x10, filesz=0x10, offset=1 << 62)]),
        make_elf([Seg(vaddr=(1 << 64) - 0x1000, memsz=0x2000, filesz=0x10)]),
        make_elf([Seg(vaddr=0, memsz=(1 << 64) - 1, filesz=0x10)]),
        make_elf([Seg(vaddr=0, memsz=0x10, filesz=0x10)], e_type=2),
    ]
    for i, pal in enumerate(bads):
        p = tmp_path / f"pal{i}"
        p.write_bytes(pal)
        res = _run(check_core, "measure", manifest, p, "16M", "1", "0")
        _no_sanitizer_report(res)
        assert res.returncode == 1, (i, res.stdout)
    p = tmp_path / "good"
    p.write_bytes(good)
    res = _run(check_core, "measure", manifest, p, "16M", "2", "0")
    _no_sanitizer_report(res)
    assert res.returncode == 0, res.stderr
