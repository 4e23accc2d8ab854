"""Security hardening of the runtime's supervisor and filter: each test pins down one
attack (or one guarantee) with a small static probe (hardening_probe.c) run under the
runtime. Probe output: one line per command, "<command> => OK" or "=> <ERRNO>"; in
commands, %P is the parent's pid (the supervisor) and %S the probe's own."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from rt_bundle import Bundle, MakeBundle

HERE = Path(__file__).resolve().parent


@pytest.fixture
def probe(tmp_path: Path) -> str:
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "probe"
    subprocess.run(["gcc", "-O1", "-static", "-o", str(exe), str(HERE / "hardening_probe.c")],
                   check=True, capture_output=True)
    return str(exe)


def run_probe(make_bundle: MakeBundle, probe: str, cmds: list[str], *,
              allowed: list[str] | None = None, trusted: list[str] | None = None,
              env: dict[str, str] | None = None, phase1: bool = False,
              **kw: object) -> dict[str, str]:
    """phase1: a trusted decoy file is tampered with after signing, so the background
    verifier fails and the supervisor decides every open itself for the whole run."""
    decoy = []
    if phase1:
        d = Path(probe).parent / "decoy.txt"
        d.write_text("decoy\n")
        decoy = [str(d)]
    b: Bundle = make_bundle(entrypoint=probe, argv=["probe", *cmds],
                            trusted=[probe, *(trusted or []), *decoy], allowed=allowed or [],
                            **kw)
    if phase1:
        Path(decoy[0]).write_text("tampered\n")
    res = b.run(env=env)
    assert res.returncode == 0, res.stderr
    out = dict(line.rsplit(" => ", 1) for line in res.stdout.splitlines())
    out["__stderr__"] = res.stderr
    return out


# ------------------------------------------------ the supervisor's own /proc entries

SUPERVISOR_PROC = [
    "open-rw /proc/%P/mem",
    "open /proc/%P/environ",
    "open-rw /proc/%P/task/%P/mem",
    "open /proc/%P/fd/0",
    "open /proc/%P/cwd/etc/hostname",
    "open /proc/%P",
    "open /proc/self/../%P/mem",
    "open /proc/%S/../%P/environ",
]


def test_supervisor_proc_entries_refused(make_bundle: MakeBundle, probe: str) -> None:
    """With /proc allowed (gsc's default manifest allows it), the app must not reach the
    supervisor's own /proc/PID entries through the supervisor: the kernel lets a process
    open its own mem/environ/fd whatever its dumpable flag, so the supervisor would open
    them on the app's behalf (writable memory of the policy engine, host environment)."""
    out = run_probe(make_bundle, probe, SUPERVISOR_PROC, allowed=["/proc/", "/etc/hostname"],
                    phase1=True)
    for cmd in SUPERVISOR_PROC:
        assert out[cmd] == "EACCES", (cmd, out)


def test_supervisor_environment_not_leaked(make_bundle: MakeBundle, probe: str) -> None:
    # phase 1 here; phase 2 (the kernel decides) is tested in a container, where the
    # app, like Docker's default capabilities, holds no CAP_SYS_PTRACE (test_docker.py)
    out = run_probe(make_bundle, probe, ["cat /proc/%P/environ", "cat /proc/self/environ"],
                    allowed=["/proc/"], env={"SECRET_TOKEN": "s3cr3t-value"}, phase1=True)
    assert out["cat /proc/%P/environ"] == "EACCES"
    assert out["cat /proc/self/environ"] == "OK"
    assert "s3cr3t-value" not in out["__stderr__"]


def test_supervisor_environment_not_leaked_in_phase_2(make_bundle: MakeBundle) -> None:
    """In phase 2 the kernel decides opens: /proc/<supervisor>/environ opened by the app
    itself must not show the host's environment (the supervisor wipes its copy)."""
    b = make_bundle("sleep 1; cat /proc/$PPID/environ; echo done", allowed=["/proc/"],
                    log_level="debug")
    res = b.run(env={"SECRET_TOKEN": "s3cr3t-value"})
    assert res.returncode == 0, res.stderr
    assert "done" in res.stdout
    assert "s3cr3t-value" not in res.stdout + res.stderr


def test_supervisor_proc_via_cwd_and_symlink(make_bundle: MakeBundle, probe: str,
                                             tmp_path: Path) -> None:
    """chdir() is native: starting from a cwd inside /proc/<supervisor>, or through a
    symlink the app made in an allowed directory, must not help."""
    rw = tmp_path / "rw"
    rw.mkdir()
    cmds = ["chdir-open /proc/%P mem", "chdir-open /proc/%P/task/%P environ",
            f"symlink-open /proc/%P/mem {rw}/link", "chdir-open /proc/%P/net dev"]
    # phase 1 (the supervisor's own resolution); in phase 2 the kernel answers: see
    # test_docker.py::test_supervisor_environment_unreadable_in_phase_2
    out = run_probe(make_bundle, probe, cmds, allowed=["/proc/", str(rw)], phase1=True)
    assert out["chdir-open /proc/%P mem"] == "EACCES"
    assert out["chdir-open /proc/%P/task/%P environ"] == "EACCES"
    assert out[f"symlink-open /proc/%P/mem {rw}/link"] == "EACCES"
    assert out["chdir-open /proc/%P/net dev"] == "EACCES"


def test_app_own_proc_entries_still_work(make_bundle: MakeBundle, probe: str) -> None:
    cmds = ["open /proc/self/status", "open /proc/%S/status", "open /proc/thread-self/stat",
            "open /proc/self/environ", "open /proc/cpuinfo"]
    out = run_probe(make_bundle, probe, cmds, allowed=["/proc/"])
    for cmd in cmds:
        assert out[cmd] == "OK", (cmd, out)


# ------------------------------------------------ direct attacks on the supervisor


def test_ptrace_and_vm_access_of_supervisor_refused(make_bundle: MakeBundle,
                                                     probe: str) -> None:
    """Non-dumpable only stops an app without CAP_SYS_PTRACE (here: root on the host,
    or `docker run --cap-add SYS_PTRACE`). The filter refuses these outright."""
    cmds = ["ptrace-seize-parent", "vmread-parent", "vmwrite-parent", "pidfd-parent"]
    out = run_probe(make_bundle, probe, [*cmds, "pidfd-self"])
    for cmd in cmds:
        assert out[cmd] == "EPERM", (cmd, out)
    assert out["pidfd-self"] == "OK"


def test_x32_and_bypass_syscalls_refused(make_bundle: MakeBundle, probe: str,
                                         tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    cmds = [f"x32-openat {secret}", "open_by_handle_at", "io_uring_setup", f"open {secret}"]
    out = run_probe(make_bundle, probe, cmds)
    assert out[f"x32-openat {secret}"] == "ENOSYS"
    assert out["open_by_handle_at"] == "EPERM"
    assert out["io_uring_setup"] == "EPERM"
    assert out[f"open {secret}"] == "EACCES"


def test_memfd_exec_refused(make_bundle: MakeBundle, probe: str) -> None:
    """A trusted program's bytes copied into a memfd are not a trusted file: neither
    execveat(AT_EMPTY_PATH) (fexecve) nor execve(/proc/self/fd/N) may run them."""
    out = run_probe(make_bundle, probe, [f"memfd-exec {probe}"])
    assert out[f"memfd-exec {probe}"] == "EACCES", out


def test_o_tmpfile_does_not_crash_the_supervisor(make_bundle: MakeBundle, probe: str,
                                                 tmp_path: Path) -> None:
    """O_TMPFILE opens are made by the supervisor on the app's behalf: they must neither
    abort it (FORTIFY: open() with O_TMPFILE and no mode) nor ignore the app's umask."""
    rw = tmp_path / "rw"
    rw.mkdir()
    cmds = [f"tmpfile {rw}", f"tmpfile-ro {rw}", f"tmpfile-ro {tmp_path}/bin",
            f"tmpfile-mode {rw}", f"tmpfile {tmp_path}/bin"]
    out = run_probe(make_bundle, probe, cmds, allowed=[str(rw)])
    assert out[f"tmpfile {rw}"] == "OK"
    assert out[f"tmpfile-ro {rw}"] == "EINVAL"          # the kernel's answer
    # creating in a trusted dir: refused by the supervisor (phase 1, EACCES) or by the
    # kernel, which checks the flag combination first (phase 2, EINVAL)
    assert out[f"tmpfile-ro {tmp_path}/bin"] in ("EACCES", "EINVAL")
    assert out[f"tmpfile-mode {rw}"] == "OK" and "mode=644" in out["__stderr__"]
    assert out[f"tmpfile {tmp_path}/bin"] == "EACCES"


def test_trusted_file_cannot_get_new_names(make_bundle: MakeBundle, probe: str,
                                           tmp_path: Path) -> None:
    trusted = tmp_path / "trusted.txt"
    trusted.write_text("trusted\n")
    rw = tmp_path / "rw"
    rw.mkdir()
    (rw / "mine").write_text("mine\n")
    cmds = [f"link-fd {trusted} {rw}/copy", f"exchange {rw}/mine {trusted}",
            f"tmpfile {tmp_path}/bin"]
    out = run_probe(make_bundle, probe, cmds, trusted=[str(trusted)], allowed=[str(rw)])
    # Landlock refuses re-parenting a file into a place where it would gain rights: EXDEV
    assert out[f"link-fd {trusted} {rw}/copy"] in ("EACCES", "EXDEV")
    assert out[f"exchange {rw}/mine {trusted}"] == "EACCES"
    assert out[f"tmpfile {tmp_path}/bin"] == "EACCES"
    assert trusted.read_text() == "trusted\n" and not (rw / "copy").exists()


# ------------------------------------------------ path resolution


def test_openat2_no_xdev_dotdot(make_bundle: MakeBundle, probe: str) -> None:
    """RESOLVE_NO_XDEV also forbids leaving the start mount through "..", as the kernel
    does (/proc is its own mount; "/" a trusted-files directory, so listable)."""
    out = run_probe(make_bundle, probe, ["openat2-xdev /proc ..", "openat2-xdev /proc self"],
                    allowed=["/proc/"])
    assert out["openat2-xdev /proc .."] == "EXDEV", out
    assert out["openat2-xdev /proc self"] == "OK", out


# ------------------------------------------------ terminals and logs


def test_supervisor_takes_no_controlling_tty(make_bundle: MakeBundle, probe: str,
                                             runtime_bin: Path) -> None:
    """Opening a terminal on the app's behalf must not make it the supervisor's
    controlling terminal (a session leader without one would acquire it)."""
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        b = make_bundle(entrypoint=probe, argv=["probe", f"open-rw {name}", "sleep 5"],
                        trusted=[probe], allowed=[name])
        proc = subprocess.Popen([str(b.exe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env={}, cwd=str(b.root),
                                start_new_session=True, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == f"open-rw {name} => OK", line
            time.sleep(0.1)
            with open(f"/proc/{proc.pid}/stat") as f:
                tty_nr = int(f.read().rsplit(")", 1)[1].split()[4])
            assert tty_nr == 0, "the supervisor acquired a controlling terminal"
        finally:
            proc.kill()
            proc.communicate()
    finally:
        os.close(master)
        os.close(slave)


def test_log_lines_carry_no_control_characters(make_bundle: MakeBundle, probe: str,
                                               tmp_path: Path) -> None:
    evil = tmp_path / "x\x1b[2J\x08\x07y"
    evil.write_text("secret\n")
    out = run_probe(make_bundle, probe, [f"open {evil}"])
    assert out[f"open {evil}"] == "EACCES"
    err = out["__stderr__"]
    assert "denied open" in err
    assert not any(c in err for c in "\x1b\x08\x07\r"), repr(err)
    assert err.count("\n") == 1
