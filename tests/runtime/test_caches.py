"""The supervisor's caches must never outlive what they remember: the credentials of an
app thread (cached by a root supervisor, dropped when the thread may have changed them)
and the verification of a trusted file (cached by identity, redone when the file changed
in any way). Uses the hardening probe (hardening_probe.c)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from capabilities import reason
from rt_bundle import MakeBundle, weak_mode
from test_hardening import run_probe

HERE = Path(__file__).resolve().parent

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason=reason("root", "changes uid"))


@pytest.fixture
def public(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A directory every user may enter (pytest's tmp_path is 0700) holding the probe, a
    file only root may read and one anybody may read. The two files are allowed one by
    one: a trusted file (the probe) never lies in an allowed directory (the runtime
    refuses such a manifest). Not in /tmp: its symlinks would be pinned and other jobs
    change them."""
    d = Path(tempfile.mkdtemp(prefix="gsc-caches-", dir="/var/tmp"))
    try:
        d.chmod(0o755)
        probe = d / "probe"
        subprocess.run(["gcc", "-O1", "-static", "-pthread", "-o", str(probe),
                        str(HERE / "hardening_probe.c")], check=True, capture_output=True)
        probe.chmod(0o755)
        rootonly = d / "rootonly"
        rootonly.write_text("root only\n")
        rootonly.chmod(0o600)
        pub = d / "public"
        pub.write_text("public\n")
        pub.chmod(0o644)
        yield {"dir": str(d), "probe": str(probe), "rootonly": str(rootonly),
               "public": str(pub), "files": [str(rootonly), str(pub)]}
    finally:
        shutil.rmtree(d, ignore_errors=True)


@needs_root
def test_setuid_is_observed(make_bundle: MakeBundle, public: dict[str, Any]) -> None:
    """Opens are made with the caller's credentials as they are at each call: a root app
    that drops to uid 1000 between two opens gets the second made as uid 1000."""
    ro, pub = public["rootonly"], public["public"]
    cmds = [f"open {ro}", f"open {pub}", "setuid 1000", f"open {pub}", f"open {ro}"]
    out = run_probe(make_bundle, public["probe"], cmds, allowed=public["files"],
                    trusted=[public["probe"]])
    assert out[f"open {ro}"] == "EACCES", out       # the last one, as uid 1000
    assert out[f"open {pub}"] == "OK", out
    assert out["setuid 1000"] == "OK", out


@needs_root
def test_per_thread_credentials(make_bundle: MakeBundle, public: dict[str, Any]) -> None:
    """Credentials are per thread in Linux: a thread that drops its own (raw setresuid)
    opens as uid 1000 while the main thread stays root, before and after."""
    ro, pub = public["rootonly"], public["public"]
    cmds = [f"open {ro}", f"thread-open-as 1000 {ro}", f"thread-open-as 1000 {pub}",
            f"open {pub}", f"open {ro}"]
    out = run_probe(make_bundle, public["probe"], cmds, allowed=public["files"],
                    trusted=[public["probe"]])
    assert out[f"thread-open-as 1000 {ro}"] == "EACCES", out
    assert out[f"thread-open-as 1000 {pub}"] == "OK", out
    assert out[f"open {ro}"] == "OK", out            # main thread: still root


@needs_root
def test_exec_from_a_thread_takes_the_leaders_tid(make_bundle: MakeBundle,
                                                  public: dict[str, Any]) -> None:
    """execve from a thread other than the leader gives the new program the leader's tid,
    with the exec'ing thread's credentials. The leader keeps opening files (as root) up
    to the exec, so its credentials are looked up right then: none of that may be used
    for the new program (uid 1000)."""
    ro, pub, probe = public["rootonly"], public["public"], public["probe"]
    for _ in range(5):
        cmd = f"thread-exec-as 1000 {probe} {ro} {pub}"
        out = run_probe(make_bundle, probe, [cmd], allowed=public["files"], trusted=[probe])
        assert cmd not in out, out                   # the exec succeeded
        assert out[f"open {ro}"] == "EACCES", out


def test_trusted_file_changed_between_opens(make_bundle: MakeBundle,
                                            nolandlock: tuple[str, ...],
                                            tmp_path: Path) -> None:
    """While the supervisor answers opens (phase 1), a trusted file verified once, then
    changed in place from outside (same size, mtime put back), fails the next open (EPERM);
    put back as it was, it verifies again. Phase 1 is held for the whole run by the weak
    mode (no Landlock): with Landlock, phase 2 starts as soon as the background verifier is
    done, and from then on the kernel answers opens without a re-check; the app itself
    cannot change a trusted file (test_attacks.py), and a change from outside while the app
    runs is out of scope (docs/runtime.md, "Verification at launch")."""
    trusted = tmp_path / "trusted.txt"
    trusted.write_bytes(b"trusted content\n")
    original = trusted.read_bytes()
    probe = tmp_path / "probe"
    subprocess.run(["gcc", "-O1", "-static", "-pthread", "-o", str(probe),
                    str(HERE / "hardening_probe.c")], check=True, capture_output=True)
    cmds = [f"cat {trusted}", "sleep 1", f"open {trusted}", "sleep 1", f"open {trusted} "]
    b = make_bundle(entrypoint=str(probe), argv=["probe", *cmds],
                    trusted=[str(probe), str(trusted)], tweak=weak_mode)
    proc = subprocess.Popen([*nolandlock, str(b.exe)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env={},
                            cwd=str(b.root), text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"cat {trusted} => OK"
        st = trusted.stat()
        with open(trusted, "r+b") as f:                # same inode, same size
            f.write(b"T")
        os.utime(trusted, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert proc.stdout.readline().strip() == "sleep 1 => OK"
        assert proc.stdout.readline().strip() == f"open {trusted} => EPERM"
        with open(trusted, "r+b") as f:
            f.write(original[:1])
        assert proc.stdout.readline().strip() == "sleep 1 => OK"
        assert proc.stdout.readline().strip() == f"open {trusted}  => OK"
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, err
    assert "SHA-256 mismatch" in err
