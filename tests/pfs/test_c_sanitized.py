"""The C reader under ASan/UBSan: every vector through runtime/tests/check_pf.c, and a bounded
libFuzzer run of runtime/fuzz/fuzz_pf.c seeded with the vectors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import IDS, REPO, VEC_DIR, VECTORS

CORE = REPO / "runtime" / "core"
FUZZ_SECONDS = int(os.environ.get("GSC_FUZZ_SECONDS", "20"))
WARN = ["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "halt_on_error=1"}


def _core_sources() -> list[str]:
    return [str(p) for p in sorted(CORE.glob("*.c"))]


@pytest.fixture(scope="module")
def check_pf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not available")
    out = tmp_path_factory.mktemp("asan") / "check_pf"
    subprocess.run(
        [gcc, "-std=c11", "-O1", "-g", "-D_GNU_SOURCE", *WARN,
         "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
         f"-I{CORE}", *_core_sources(), str(REPO / "runtime" / "tests" / "check_pf.c"),
         "-lmbedcrypto", "-o", str(out)],
        check=True,
    )
    return out


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_vector_under_sanitizers(check_pf: Path, v: dict[str, Any]) -> None:
    res = subprocess.run(
        [str(check_pf), v["key_hex"], v["open_path"] or "-", str(VEC_DIR / v["encrypted_file"])],
        capture_output=True, text=True, env=SAN_ENV, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "Sanitizer" not in res.stderr and "runtime error" not in res.stderr, res.stderr
    exp = v["expected"]
    if exp["result"] == "ok":
        assert res.stdout.split() == ["ok", str(v["size"]), v["plaintext_sha256"]]
    else:
        off = "-" if exp["read_offset"] is None else str(exp["read_offset"])
        assert res.stdout.split() == ["error", exp["stage"], str(exp["status"]), off]


@pytest.mark.slow
def test_fuzz_pf(tmp_path: Path) -> None:
    clang = shutil.which("clang") or shutil.which("clang-14")
    if clang is None:
        pytest.skip("clang not available")
    binary = tmp_path / "fuzz_pf"
    subprocess.run(
        [clang, "-g", "-O1", "-std=c11", "-D_GNU_SOURCE", *WARN,
         "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all", f"-I{CORE}",
         *_core_sources(), str(REPO / "runtime" / "fuzz" / "fuzz_pf.c"), "-lmbedcrypto",
         "-o", str(binary)],
        check=True,
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for v in VECTORS:
        data = (VEC_DIR / v["encrypted_file"]).read_bytes()
        if len(data) > 40000 or v["key_hex"] != "7dedc7d558777eba13c8597359f51c79":
            continue
        for mode in (0, 1, 3, 0x0E):
            (corpus / f"{v['name']}_{mode}").write_bytes(bytes([mode]) + data)
    res = subprocess.run(
        [str(binary), f"-max_total_time={FUZZ_SECONDS}", "-max_len=40000", "-timeout=10",
         "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=FUZZ_SECONDS + 180, cwd=tmp_path,
    )
    tail = res.stderr[-3000:]
    assert res.returncode == 0, tail
    assert "ERROR: AddressSanitizer" not in res.stderr and "runtime error" not in res.stderr, tail
    assert "Done" in res.stderr, tail
