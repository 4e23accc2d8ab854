"""The runtime build: deterministic bytes, static PIE, sanitised build, runtime_path()."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from rt_bundle import REPO, MakeBundle

import gsc.runtime_binary as rb
from gsc.errors import InputError


def _copy_tree(dst: Path) -> Path:
    src = REPO / "runtime"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build"))
    return dst


@pytest.mark.slow
def test_two_builds_are_identical(tmp_path: Path, runtime_bin: Path) -> None:
    outs = []
    for name in ("first", "second-place/deeper"):
        tree = _copy_tree(tmp_path / name / "runtime")
        subprocess.run(["make", "-s", "-C", str(tree), "runtime"], check=True,
                       capture_output=True)
        outs.append((tree / "build" / "gsc-runtime").read_bytes())
    assert outs[0] == outs[1]
    # and equal to the tree's own build (a third directory)
    assert runtime_bin.read_bytes() == outs[0]
    assert str(tmp_path).encode() not in outs[0]
    assert str(REPO).encode() not in outs[0]


def test_static_pie_x86_64(runtime_bin: Path) -> None:
    with open(runtime_bin, "rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == "EM_X86_64" and elf["e_type"] == "ET_DYN"
        types = [s["p_type"] for s in elf.iter_segments()]
        assert "PT_INTERP" not in types  # runs in any image, even FROM scratch
        assert "PT_DYNAMIC" in types      # self-relocating (static-pie)
        assert min(s["p_vaddr"] for s in elf.iter_segments() if s["p_type"] == "PT_LOAD") == 0
        assert elf.get_section_by_name(".symtab") is None  # stripped
        assert elf.get_section_by_name(".note.gnu.build-id") is None


def test_runtime_path_development_tree(runtime_bin: Path) -> None:
    p = rb.runtime_path()
    assert p.is_file()
    assert p in (rb.PACKAGED, rb.DEVELOPMENT)


def test_runtime_path_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rb, "PACKAGED", tmp_path / "nope1")
    monkeypatch.setattr(rb, "DEVELOPMENT", tmp_path / "nope2")
    with pytest.raises(InputError, match="make -C runtime runtime"):
        rb.runtime_path()


@pytest.mark.slow
def test_asan_ubsan_runtime_scenarios(make_bundle: MakeBundle, tmp_path: Path,
                                      asan_runtime: Path) -> None:
    (tmp_path / "t.txt").write_text("t\n")
    (tmp_path / "s.txt").write_text("s\n")
    (tmp_path / "rw").mkdir()
    script = ("cat t.txt; cat s.txt; echo x >> t.txt; echo y > rw/f; cat rw/f; "
              "cat /proc/self/fd/0 </dev/null; ln -s ../t.txt rw/l; cat rw/l; "
              "rm rw/f; mv rw/l rw/m; exit 3")
    b = make_bundle(script, trusted=[str(tmp_path / "t.txt")], allowed=[str(tmp_path / "rw")],
                    runtime_src=asan_runtime, log_level="trace")
    res = b.run(env={"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
                     "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"})
    assert res.returncode == 3, res.stderr
    assert res.stdout == "t\ny\nt\n"
    assert "ERROR: AddressSanitizer" not in res.stderr
    assert "runtime error:" not in res.stderr
    # launch refusal path under the sanitizers too
    (b.gsc / "entrypoint.sig").write_bytes(b"\0" * 1808)
    res = b.run(env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert res.returncode == 126 and "launch refused" in res.stderr
