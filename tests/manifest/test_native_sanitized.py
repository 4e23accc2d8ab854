"""The C parser and policy built with ASan/UBSan (runtime/tests/check_manifest.c) over a corpus,
and a bounded libFuzzer run of runtime/fuzz/fuzz_manifest.c."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from capabilities import need
from hypothesis import HealthCheck, given, settings
from manifest_testlib import expected_view, manifest_docs, oracle_classify
from test_rejects import BAD, GOOD

from gsc.manifest import canonical, schema

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "runtime" / "core"
SOURCES = [CORE / n for n in
           ("manifest.c", "policy.c", "measure.c", "sha256.c", "coreutil.c")]
FLAGS = ["-g", "-O1", "-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE",
         "-fno-omit-frame-pointer", f"-I{CORE}"]
SAN_ENV = {
    **os.environ,
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
}


def _cc() -> str:
    for cc in ("clang-14", "gcc"):
        if shutil.which(cc):
            return cc
    need("gcc", False, "no C compiler (clang-14 or gcc)")
    raise AssertionError


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("asan") / "check_manifest"
    subprocess.run(
        [_cc(), *FLAGS, "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         str(REPO / "runtime" / "tests" / "check_manifest.c"), *map(str, SOURCES), "-o", str(out)],
        check=True,
    )
    return out


def _corpus(tmp: Path) -> dict[str, bytes]:
    corpus = {f"bad-{k}": v for k, v in BAD.items()}
    corpus["good"] = GOOD
    # every truncation and a few byte edits of a valid manifest
    for n in range(0, len(GOOD), 7):
        corpus[f"cut-{n}"] = GOOD[:n]
    for n in range(0, len(GOOD), 11):
        corpus[f"flip-{n}"] = GOOD[:n] + bytes([GOOD[n] ^ 0x20]) + GOOD[n + 1 :]
    return corpus


@pytest.mark.sanitizers
def test_corpus_under_sanitizers(checker: Path, tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    files = []
    for name, data in sorted(corpus.items()):
        f = tmp_path / name
        f.write_bytes(data)
        files.append(f)
    r = subprocess.run([str(checker), "--many", *map(str, files)], capture_output=True,
                       env=SAN_ENV, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    assert b"runtime error" not in r.stderr and b"Sanitizer" not in r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) == len(files)
    for f, line in zip(files, lines, strict=True):
        data = corpus[f.name]
        try:
            schema.load(data, f.name)
            py_ok = True
        except Exception:
            py_ok = False
        assert line.startswith("ok " if py_ok else "refused "), (f.name, line)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(manifest_docs())
@pytest.mark.sanitizers
def test_generated_under_sanitizers(checker: Path, tmp_path: Path, raw: dict[str, Any]) -> None:
    doc = schema.canonicalise(raw)
    data = canonical.dumps(doc)
    f = tmp_path / "m.toml"
    f.write_bytes(data)
    view = expected_view(doc)
    probes = [p for p, _ in view["trusted"]] + view["allowed"] + ["/", "/tmp", "/x/../y",
                                                                  "/etc/hosts"]
    probes += [p for p, _ in view["symlinks"]] + view["readonly"]
    r = subprocess.run([str(checker), str(f), *probes], capture_output=True, env=SAN_ENV,
                       timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()[-3000:]
    out = r.stdout.decode("utf-8").split("\n")
    got = json.loads(out[0])
    got["env"] = [tuple(e) for e in got["env"]]
    got["trusted"] = [tuple(t) for t in got["trusted"]]
    got["symlinks"] = [tuple(t) for t in got["symlinks"]]
    for key in ("use_cmdline_argv", "use_host_env", "edmm_enable", "debug", "use_exinfo",
                "allow_all_but_log", "allow_no_landlock", "has_container_config"):
        got[key] = bool(got[key])
    got["env"] = [(n, v, bool(p)) for n, v, p in got["env"]]
    assert got == view
    trusted = [p for p, _ in view["trusted"]]
    for line in out[1 : 1 + len(probes)]:
        cls, _, quoted = line.split(" ", 2)
        path = json.loads(quoted)
        assert int(cls) == oracle_classify(path, trusted, view["allowed"], view["tmpfs"],
                                           [p for p, _ in view["symlinks"]],
                                           view["readonly"])


@pytest.mark.fuzz
@pytest.mark.timeout(180)
def test_fuzz_manifest_smoke(tmp_path: Path) -> None:
    clang = shutil.which("clang-14")
    need("clang", clang is not None, "clang-14 not installed")
    assert clang is not None
    fuzzer = tmp_path / "fuzz_manifest"
    subprocess.run(
        [clang, *FLAGS, "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
         str(REPO / "runtime" / "fuzz" / "fuzz_manifest.c"), *map(str, SOURCES),
         "-o", str(fuzzer)],
        check=True,
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "good").write_bytes(GOOD)
    for i, (_name, data) in enumerate(sorted(BAD.items())):
        if len(data) < 8192:
            (seeds / f"bad{i}").write_bytes(data)
    full = {
        "libos": {"entrypoint": "/usr/bin/app"},
        "loader": {"argv": ["app", "\x01\"\\é"], "env": {"A": "1", "B": {"passthrough": True},
                                                         "C D": {"value": "x"}}},
        "fs": {"start_dir": "/app", "mounts": [{"path": "/run", "type": "tmpfs"},
                                               {"path": "/lib", "uri": "file:/lib"}]},
        "sgx": {"enclave_size": "1G", "max_threads": 8, "cpu_features": {"avx": "required"},
                "trusted_files": [{"uri": f"file:/usr/lib/l{i}.so", "sha256": f"{i:064x}"}
                                  for i in range(5)],
                "allowed_files": ["file:/tmp", "file:/usr/lib/l1.so"]},
        "gsc": {"container_config": '{"Cmd":["app"]}', "insecure__allow_no_landlock": False,
                "symlinks": [{"path": "/bin", "target": "usr/bin"},
                             {"path": "/usr/lib/l.so", "target": "l1.so"}]},
        "sys": {"stack": {"size": "1M"}},
    }
    (seeds / "full").write_bytes(schema.render(full, "seed"))
    work = tmp_path / "corpus"
    work.mkdir()
    r = subprocess.run(
        [str(fuzzer), "-max_total_time=20", "-timeout=10", "-rss_limit_mb=2048",
         f"-artifact_prefix={tmp_path}/", str(work), str(seeds)],
        capture_output=True, env=SAN_ENV, timeout=170,
    )
    tail = r.stderr.decode(errors="replace")[-3000:]
    assert r.returncode == 0, tail
    assert "Done" in tail
