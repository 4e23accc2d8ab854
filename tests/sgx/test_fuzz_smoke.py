"""Build the libFuzzer targets for the PAL ELF parser and SIGSTRUCT verification with
clang -fsanitize=fuzzer,address,undefined and run each for a bounded time on a seed corpus
made from the vectors. Any crash or sanitizer report fails the test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from capabilities import need

from .conftest import REPO

CORE = REPO / "runtime" / "core"
FUZZ = REPO / "runtime" / "fuzz"
FUZZ_SECONDS = int(os.environ.get("GSC_FUZZ_SECONDS", "20"))


def _clang() -> str:
    for name in ("clang", "clang-14"):
        path = shutil.which(name)
        if path:
            return path
    need("clang", False, "clang not available")
    raise AssertionError


def _build(target: str, out_dir: Path) -> Path:
    binary = out_dir / target
    srcs = [CORE / f"{n}.c" for n in ("sha256", "measure", "sigstruct", "coreutil")]
    subprocess.run(
        [
            _clang(),
            "-g",
            "-O1",
            "-std=c11",
            "-D_GNU_SOURCE",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=all",
            f"-I{CORE}",
            *map(str, srcs),
            str(FUZZ / f"{target}.c"),
            "-lmbedcrypto",
            "-o",
            str(binary),
        ],
        check=True,
    )
    return binary


def _fuzz(binary: Path, corpus: Path, work: Path) -> None:
    res = subprocess.run(
        [
            str(binary),
            f"-max_total_time={FUZZ_SECONDS}",
            "-max_len=20000",
            "-timeout=10",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={work}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
        cwd=work,
    )
    tail = res.stderr[-3000:]
    assert res.returncode == 0, tail
    assert "ERROR: AddressSanitizer" not in res.stderr and "runtime error" not in res.stderr, tail
    assert "Done" in res.stderr, tail


@pytest.mark.fuzz
def test_fuzz_pal_elf(sgx_dir: Path, tmp_path: Path) -> None:
    binary = _build("fuzz_pal_elf", tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, pal in enumerate(sorted((sgx_dir / "pal").glob("*.elf"))):
        data = pal.read_bytes()
        for sel in (0, 5, 0x1C):
            (corpus / f"seed{i}_{sel}").write_bytes(bytes([sel]) + data)
    _fuzz(binary, corpus, tmp_path)


@pytest.mark.fuzz
def test_fuzz_sigstruct(sgx_dir: Path, tmp_path: Path) -> None:
    binary = _build("fuzz_sigstruct", tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, sig in enumerate(sorted((sgx_dir / "sign").glob("*.sig"))):
        (corpus / f"seed{i}").write_bytes(sig.read_bytes())
    _fuzz(binary, corpus, tmp_path)
