"""The phase machine and the background verifier (docs/runtime.md, "Phases").

Phase 2 (opens CONTINUEd) needs the app's Landlock domain; the weak mode
(gsc.insecure__allow_no_landlock) stays in phase 1. The sanitiser build of the runtime
runs the phase machine here."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rt_bundle import MakeBundle, weak_mode

ASAN = {"ASAN_OPTIONS": "detect_leaks=0"}
KNOB = ASAN


def test_all_verified_enters_phase_2(make_bundle: MakeBundle, asan_runtime: Path,
                                     tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("trusted content\n")
    b = make_bundle("/bin/echo later-exec; sleep 2; cat t.txt",
                    trusted=[str(tmp_path / "t.txt")],
                    runtime_src=asan_runtime, log_level="debug")
    res = b.run(env=KNOB, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "later-exec\ntrusted content\n", res.stderr
    assert "every trusted file checked (all verified); phase 2" in res.stderr
    # answered by the kernel (CONTINUE), not by an injected, supervisor-verified descriptor
    assert "t.txt (trusted, verified)" not in res.stderr


def test_without_landlock_launch_refused(make_bundle: MakeBundle,
                                         nolandlock: tuple[str, ...]) -> None:
    """No Landlock and no opt-in: the launch is refused with one clear line."""
    b = make_bundle("echo ran")
    res = subprocess.run([*nolandlock, str(b.exe)], capture_output=True, text=True,
                         cwd=str(b.root), timeout=60, check=False)
    assert res.returncode == 126, res.stderr
    assert res.stdout == ""
    assert res.stderr.startswith("gsc-runtime: launch refused: Landlock ABI >= 3 is required")


def test_without_landlock_phase_1_forever(make_bundle: MakeBundle, asan_runtime: Path,
                                          nolandlock: tuple[str, ...], tmp_path: Path) -> None:
    """The documented weak mode (gsc.insecure__allow_no_landlock on a kernel without
    Landlock): the supervisor alone decides, never phase 2, denied files stay denied."""
    (tmp_path / "secret.txt").write_text("secret\n")
    b = make_bundle("/bin/echo x; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; "
                    "if read x < secret.txt; then echo leaked; else echo refused; fi",
                    runtime_src=asan_runtime, log_level="debug", tweak=weak_mode)
    res = subprocess.run([*nolandlock, str(b.exe)], capture_output=True, text=True,
                         cwd=str(b.root), timeout=120, check=False, env=ASAN)
    assert res.stdout == "x\nrefused\n", res.stderr
    assert "the supervisor alone enforces the policy" in res.stderr
    assert "phase 2" not in res.stderr


def test_failed_executable_refuses_later_execs_and_keeps_phase_1(
        make_bundle: MakeBundle, asan_runtime: Path, tmp_path: Path) -> None:
    """A trusted executable that does not match its hash: the verifier finds it, later
    execs are refused (even of other, intact programs) and opens stay supervised."""
    bad = tmp_path / "bad-echo"
    bad.write_bytes(Path("/bin/echo").resolve().read_bytes())
    bad.chmod(0o755)
    (tmp_path / "secret.txt").write_text("secret\n")
    b = make_bundle("/bin/echo later; echo rc=$?; "
                    "if read x < secret.txt; then echo leaked; else echo refused; fi",
                    trusted=[str(bad)], runtime_src=asan_runtime)
    with bad.open("ab") as f:
        f.write(b"\0")  # tampered after signing
    res = b.run(env=KNOB, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["rc=126", "refused"], res.stderr
    assert f"trusted file {bad} failed verification (hash mismatch)" in res.stderr
