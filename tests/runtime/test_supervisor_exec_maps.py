"""Only trusted code is mapped executable (issue 8, class 3): mmap/mprotect with PROT_EXEC
of a file that is not a verified trusted file is refused; anonymous executable memory
(JITs) still works."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rt_bundle import MakeBundle
from test_supervisor_compat import run_sprobe, sprobe  # noqa: F401  (fixture)

LDSO = "/lib64/ld-linux-x86-64.so.2"


def test_loader_as_program_cannot_run_untrusted_file(make_bundle: MakeBundle,
                                                     tmp_path: Path) -> None:
    rw = tmp_path / "rw"
    rw.mkdir()
    shutil.copy(Path("/bin/echo").resolve(), rw / "prog")
    b = make_bundle(f"{LDSO} {rw}/prog untrusted-ran; echo rc=$?", allowed=[f"{rw}/"])
    res = b.run()
    assert "untrusted-ran" not in res.stdout, res.stderr
    assert res.stdout.startswith("rc=") and res.stdout != "rc=0\n", (res.stdout, res.stderr)
    assert "PROT_EXEC" in res.stderr


def test_ld_preload_of_allowed_library_loads_nothing(make_bundle: MakeBundle,
                                                     tmp_path: Path) -> None:
    rw = tmp_path / "rw"
    rw.mkdir()
    src = tmp_path / "x.c"
    src.write_text('#include <unistd.h>\n__attribute__((constructor)) static void f(void)'
                   '{ write(1, "INJECTED\\n", 9); }\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(rw / "x.so"), str(src)], check=True)
    b = make_bundle(f"LD_PRELOAD={rw}/x.so /bin/echo program-ran", allowed=[f"{rw}/"])
    res = b.run()
    assert res.stdout == "program-ran\n", res.stderr  # the program runs, the lib does not
    assert "INJECTED" not in res.stdout


def test_exec_mappings_of_files(make_bundle: MakeBundle, sprobe: str,  # noqa: F811
                                tmp_path: Path) -> None:
    rw = tmp_path / "rw"
    rw.mkdir()
    (rw / "a.bin").write_bytes(b"\xc3" * 4096)
    lib = tmp_path / "t.bin"
    lib.write_bytes(b"\xc3" * 4096)
    cmds = [f"mmap-exec {rw}/a.bin", f"mprotect-exec {rw}/a.bin", f"mmap-exec {lib}",
            f"mprotect-exec {lib}", "anon-rwx"]
    out, err = run_sprobe(make_bundle, sprobe, cmds, trusted=[str(lib)], allowed=[f"{rw}/"])
    assert out[f"mmap-exec {rw}/a.bin"] == "EACCES", err
    assert out[f"mprotect-exec {rw}/a.bin"] == "EACCES", err
    assert out[f"mmap-exec {lib}"] == "OK", err
    assert out[f"mprotect-exec {lib}"] == "OK", err
    assert out["anon-rwx"] == "OK", err


def test_tampered_trusted_file_not_mapped_executable(make_bundle: MakeBundle,
                                                     sprobe: str,  # noqa: F811
                                                     tmp_path: Path) -> None:
    lib = tmp_path / "t.bin"
    lib.write_bytes(b"\xc3" * 4096)
    b = make_bundle(entrypoint=sprobe, argv=["sprobe", f"mmap-exec {lib}"],
                    trusted=[sprobe, str(lib)])
    with lib.open("r+b") as f:
        f.write(b"\x90")
    res = b.run()
    # refused at the open already (EPERM) or at the mapping (EACCES): never mapped
    assert res.stdout in (f"mmap-exec {lib} => EACCES\n", f"mmap-exec {lib} => EPERM\n"), res.stderr
