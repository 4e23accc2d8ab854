"""Supervisor behaviour real apps depend on (issue 10): O_PATH opens, signals forwarded by
PID 1, denials that explain themselves at the default log level. Probe: supervisor_probe.c,
one line per command, "<command> => OK" or "=> <ERRNO>"."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from rt_bundle import Bundle, MakeBundle

HERE = Path(__file__).resolve().parent


@pytest.fixture
def sprobe(tmp_path: Path) -> str:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    exe = d / "sprobe"
    subprocess.run(["gcc", "-O1", "-static", "-o", str(exe), str(HERE / "supervisor_probe.c")],
                   check=True, capture_output=True)
    return str(exe)


def run_sprobe(make_bundle: MakeBundle, sprobe: str, cmds: list[str], *,
               allowed: list[str] | None = None, trusted: list[str] | None = None,
               **kw: object) -> tuple[dict[str, str], str]:
    b: Bundle = make_bundle(entrypoint=sprobe, argv=["sprobe", *cmds],
                            trusted=[sprobe, *(trusted or [])], allowed=allowed or [], **kw)
    res = b.run()
    assert res.returncode == 0, res.stderr
    out = dict(line.rsplit(" => ", 1) for line in res.stdout.splitlines())
    return out, res.stderr


def test_o_path_open_of_trusted_and_allowed_files(make_bundle: MakeBundle, sprobe: str,
                                                  tmp_path: Path) -> None:
    """O_PATH opens used to fail with EBADF (a descriptor the kernel cannot inject)."""
    (tmp_path / "t.txt").write_text("trusted\n")
    rw = tmp_path / "rw"
    rw.mkdir()
    (rw / "a.txt").write_text("allowed\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    cmds = [f"opath {tmp_path}/t.txt", f"opath {rw}/a.txt", f"opath {rw}",
            f"opath {tmp_path}/secret.txt", f"opath-reopen {rw}/a.txt",
            f"opath-reopen {tmp_path}/t.txt"]
    out, _ = run_sprobe(make_bundle, sprobe, cmds, trusted=[str(tmp_path / "t.txt")],
                        allowed=[f"{rw}/"])
    assert out[f"opath {tmp_path}/t.txt"] == "OK"
    assert out[f"opath {rw}/a.txt"] == "OK"
    assert out[f"opath {rw}"] == "OK"
    # a handle to an undeclared file reads nothing (stat() tells as much): given in both
    # phases, its content stays refused (next test)
    assert out[f"opath {tmp_path}/secret.txt"] == "OK"
    # the handle leads back to the policy: reopening gives the content of what is allowed
    assert out[f"opath-reopen {rw}/a.txt"] == "OK"
    assert out[f"opath-reopen {tmp_path}/t.txt"] == "OK"


def test_o_path_handle_does_not_open_denied_content(make_bundle: MakeBundle, sprobe: str,
                                                    tmp_path: Path) -> None:
    rw = tmp_path / "rw"
    rw.mkdir()
    (tmp_path / "secret.txt").write_text("secret\n")
    (rw / "link").symlink_to(tmp_path / "secret.txt")
    out, err = run_sprobe(make_bundle, sprobe, [f"opath-reopen {rw}/link", f"open {rw}/link"],
                          allowed=[f"{rw}/"])
    assert out[f"opath-reopen {rw}/link"] == "EACCES", err
    assert out[f"open {rw}/link"] == "EACCES", err


def _wait_for(proc: subprocess.Popen[str], word: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == word, line


@pytest.mark.parametrize("sig,trap", [(signal.SIGWINCH, "WINCH"), (signal.SIGUSR2, "USR2"),
                                      (signal.SIGRTMIN + 3, str(int(signal.SIGRTMIN) + 3)),
                                      (signal.SIGRTMAX, str(int(signal.SIGRTMAX)))])
def test_pid1_forwards_every_catchable_signal(make_bundle: MakeBundle, sig: int,
                                              trap: str) -> None:
    """apache2's STOPSIGNAL is SIGWINCH; real-time signals are catchable too."""
    b = make_bundle(f'trap "echo got; exit 3" {trap}; echo ready; '
                    "while :; do sleep 0.05; done")
    proc = subprocess.Popen([str(b.exe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(b.root), env={})
    try:
        _wait_for(proc, "ready")
        time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=5)
    finally:
        proc.kill()
        proc.wait()
    assert (proc.returncode, out) == (3, "got\n"), err


def test_first_denial_of_each_path_visible_by_default(make_bundle: MakeBundle, sprobe: str,
                                                      tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_text(name)
    cmds = [f"open {tmp_path}/a", f"open {tmp_path}/a", f"open {tmp_path}/b",
            f"open {tmp_path}/a "]
    out, err = run_sprobe(make_bundle, sprobe, cmds)
    assert out[f"open {tmp_path}/a"] == "EACCES"
    assert out[f"open {tmp_path}/b"] == "EACCES"
    lines = [ln for ln in err.splitlines() if "policy: denied" in ln]
    assert len(lines) == 2, err
    assert any(f"{tmp_path}/a " in ln for ln in lines) and any(f"{tmp_path}/b " in ln
                                                                for ln in lines)
