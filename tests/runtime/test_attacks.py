"""Attacks of issue 8 against the runtime, each its own test (tests/runtime/attack.c).

Classes covered here: (1a) the image's namespace changed under trusted directories (an
added symlink, a retargeted or missing pinned symlink) -> launch refused; (2) races on
path-modifying calls from a second thread (3,000 tries each, bounded); (4) exec of
untrusted programs, also racing the path, the execveat descriptor and a symlink; (6)
Docker's per-container files and paths longer than PATH_MAX. The runtime runs on the host
here (the same harness as test_hardening.py); "the image" is the test's directory tree.

A race result "HELD n/m" means n tries, m of which failed outright; any "BREACH" line is
an attack that worked."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rt_bundle import Bundle, MakeBundle, assert_refused, with_verification

HERE = Path(__file__).resolve().parent
TRIES = 3000
EXEC_TRIES = 300  # each try forks and execs under the runtime


@pytest.fixture(params=["on_first_use", "at_launch"])
def make_bundle(make_bundle: MakeBundle, request: pytest.FixtureRequest) -> MakeBundle:
    """Every attack twice: trusted files verified on first use (the supervisor sees every
    open until all are verified) and at launch (opens never reach the supervisor)."""
    return with_verification(make_bundle, request.param)


@pytest.fixture
def attack(tmp_path: Path) -> str:
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "attack"
    subprocess.run(["gcc", "-O1", "-static", "-pthread", "-o", str(exe),
                    str(HERE / "attack.c")], check=True, capture_output=True)
    return str(exe)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """rw: allowed directory; etc: a trusted directory of the 'image' holding a trusted
    file; secret: a file the manifest does not declare."""
    rw = tmp_path / "rw"
    rw.mkdir()
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "os-release").write_text("ID=trusted\n")
    secret = tmp_path / "secret"
    secret.write_text("TOP-SECRET\n")
    return {"rw": rw, "etc": etc, "trusted": etc / "os-release", "secret": secret}


def run_attack(make_bundle: MakeBundle, attack: str, cmds: list[str], *,
               trusted: list[str] | None = None, allowed: list[str] | None = None,
               timeout: float = 120, **kw: Any) -> dict[str, str]:
    b: Bundle = make_bundle(entrypoint=attack, argv=["attack", *cmds],
                            trusted=[attack, *(trusted or [])], allowed=allowed or [], **kw)
    res = b.run(timeout=timeout)
    assert res.returncode == 0, res.stderr
    out = dict(line.rsplit(" => ", 1) for line in res.stdout.splitlines() if " => " in line)
    for cmd in cmds:
        assert cmd in out, (cmd, res.stdout, res.stderr)
    return out


def held(result: str) -> None:
    assert result.startswith("HELD "), result
    assert "BREACH" not in result


# ------------------------------------------------------------- (1a) namespace at launch

def test_added_symlink_in_trusted_dirassert_refused(make_bundle: MakeBundle,
                                              tree: dict[str, Path]) -> None:
    """A derived image adding etc/ld.so.preload -> /tmp/x next to trusted files."""
    b = make_bundle("cat os-release", trusted=[str(tree["trusted"])],
                    start_dir=str(tree["etc"]))
    assert b.run().returncode == 0
    os.symlink("/tmp/x", tree["etc"] / "ld.so.preload")
    assert_refused(b.run(), f"{tree['etc']}/ld.so.preload")


def test_retargeted_pinned_symlinkassert_refused(make_bundle: MakeBundle,
                                           tree: dict[str, Path]) -> None:
    link = tree["etc"] / "os-release.link"
    os.symlink("os-release", link)
    b = make_bundle("cat os-release.link", trusted=[str(tree["trusted"])],
                    start_dir=str(tree["etc"]))
    assert any(s["path"] == str(link) for s in b.manifest["gsc"]["symlinks"])
    res = b.run()
    assert res.returncode == 0 and res.stdout == "ID=trusted\n", res.stderr
    link.unlink()
    os.symlink("/tmp/fake-os-release", link)
    assert_refused(b.run(), str(link))
    link.unlink()
    assert_refused(b.run(), str(link))  # a pinned symlink that is missing


def test_trusted_dir_replaced_by_symlinkassert_refused(make_bundle: MakeBundle,
                                                 tree: dict[str, Path], tmp_path: Path) -> None:
    b = make_bundle("true", trusted=[str(tree["trusted"])])
    moved = tmp_path / "etc.real"
    tree["etc"].rename(moved)
    os.symlink(moved, tree["etc"])
    assert_refused(b.run(), str(tree["etc"]))


def test_trusted_file_in_allowed_dirassert_refused(make_bundle: MakeBundle,
                                             tree: dict[str, Path]) -> None:
    """Landlock unions rights along the path: a trusted file under an allowed directory
    would be writable, so such a manifest never launches."""
    t = tree["rw"] / "t.txt"
    t.write_text("x\n")
    b = make_bundle("true", trusted=[str(t)], allowed=[str(tree["rw"])])
    assert_refused(b.run(), f"trusted file {t} lies in the allowed path {tree['rw']}")


# ------------------------------------------------------------- (2) path-modifying races

def test_race_link_denied_file_into_allowed_dir(make_bundle: MakeBundle, attack: str,
                                                tree: dict[str, Path]) -> None:
    cmd = f"race-link {tree['secret']} {tree['rw']} {TRIES}"
    out = run_attack(make_bundle, attack, [cmd, f"cat {tree['rw']}/x"],
                     allowed=[str(tree["rw"])])
    held(out[cmd])


def test_race_rename_denied_file_into_allowed_dir(make_bundle: MakeBundle, attack: str,
                                                  tree: dict[str, Path]) -> None:
    cmd = f"race-rename {tree['secret']} {tree['rw']} {TRIES}"
    out = run_attack(make_bundle, attack, [cmd], allowed=[str(tree["rw"])])
    held(out[cmd])
    assert tree["secret"].read_text() == "TOP-SECRET\n"


def test_race_replace_trusted_file_by_symlink(make_bundle: MakeBundle, attack: str,
                                              tree: dict[str, Path]) -> None:
    cmd = f"race-replace {tree['trusted']} {tree['rw']} {TRIES}"
    out = run_attack(make_bundle, attack, [cmd], trusted=[str(tree["trusted"])],
                     allowed=[str(tree["rw"])])
    held(out[cmd])
    assert not tree["trusted"].is_symlink()
    assert tree["trusted"].read_text() == "ID=trusted\n"


def test_race_create_ld_so_preload(make_bundle: MakeBundle, attack: str,
                                   tree: dict[str, Path]) -> None:
    """The image's etc/ld.so.preload (the test's trusted directory stands in for /etc:
    a breach must not touch the host's)."""
    target = tree["etc"] / "ld.so.preload"
    cmd = f"race-create {target} {tree['rw']} {TRIES}"
    out = run_attack(make_bundle, attack, [cmd], trusted=[str(tree["trusted"])],
                     allowed=[str(tree["rw"])])
    held(out[cmd])
    assert not os.path.lexists(target)


# ------------------------------------------------------------- (4) exec


@pytest.fixture
def untrusted_prog(attack: str, tree: dict[str, Path]) -> str:
    """A copy of the attack program (same bytes!) in the allowed directory."""
    bad = tree["rw"] / "prog"
    shutil.copyfile(attack, bad)
    os.chmod(bad, 0o755)
    return str(bad)


def test_exec_in_allowed_dirassert_refused(make_bundle: MakeBundle, attack: str,
                                     tree: dict[str, Path], untrusted_prog: str) -> None:
    cmds = [f"exec {untrusted_prog}", f"exec {attack}"]
    out = run_attack(make_bundle, attack, cmds, allowed=[str(tree["rw"])])
    assert out[f"exec {untrusted_prog}"] == "EACCES"
    assert out[f"exec {attack}"] == f"RAN {attack}"  # the trusted one runs


def test_race_exec_path(make_bundle: MakeBundle, attack: str, tree: dict[str, Path],
                        untrusted_prog: str) -> None:
    cmd = f"race-exec {attack} {untrusted_prog} {tree['rw']} {EXEC_TRIES}"
    out = run_attack(make_bundle, attack, [cmd], allowed=[str(tree["rw"])], timeout=300)
    held(out[cmd])


def test_race_execveat_fd_swap(make_bundle: MakeBundle, attack: str, tree: dict[str, Path],
                               untrusted_prog: str) -> None:
    cmd = f"race-execveat {attack} {untrusted_prog} {tree['rw']} {EXEC_TRIES}"
    out = run_attack(make_bundle, attack, [cmd], allowed=[str(tree["rw"])], timeout=300)
    held(out[cmd])


def test_race_exec_symlink_swap_in_allowed_dir(make_bundle: MakeBundle, attack: str,
                                               tree: dict[str, Path],
                                               untrusted_prog: str) -> None:
    cmd = f"race-exec-link {attack} {untrusted_prog} {tree['rw']} {EXEC_TRIES}"
    out = run_attack(make_bundle, attack, [cmd], allowed=[str(tree["rw"])], timeout=300)
    held(out[cmd])


def test_exec_path_allowed_once_then_retargeted(make_bundle: MakeBundle, attack: str,
                                               tree: dict[str, Path],
                                               untrusted_prog: str) -> None:
    """The supervisor remembers absolute exec paths that passed its check (a fork loop pays
    one check); the name then leading elsewhere must not inherit the verdict: the kernel's
    Landlock domain refuses the untrusted program behind the same string."""
    link = tree["rw"] / "link"
    script = (f"ln -s {attack} {link} && {link} 'exec {attack}' && "
              f"ln -sf {untrusted_prog} {link} && {link} 'exec {attack}'; echo rc=$?")
    b = make_bundle(script, trusted=[attack], allowed=[str(tree["rw"])])
    res = b.run(timeout=120)
    assert res.stdout.splitlines() == [f"exec {attack} => RAN {attack}", "rc=126"], \
        (res.stdout, res.stderr)


# ------------------------------------------------------------- (6) false positives


def test_container_files_readable_even_if_trusted(make_bundle: MakeBundle, attack: str) -> None:
    """Docker's per-container /etc/hosts, /etc/hostname, /etc/resolv.conf: readable even
    when the manifest pins other content for them (an old build, or a tampered one)."""
    files = [p for p in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
             if os.path.isfile(p)]
    if not files:
        pytest.skip("no container files on this host")

    def tweak(doc: dict[str, Any]) -> None:
        entries = doc["sgx"]["trusted_files"]
        entries += [{"uri": "file:" + p, "sha256": "ab" * 32} for p in files]
        entries.sort(key=lambda e: e["uri"])

    out = run_attack(make_bundle, attack, [f"cat {p}" for p in files], tweak=tweak)
    for p in files:
        want = Path(p).read_text()[:255].replace("\n", "|")
        assert out[f"cat {p}"] == f"OK {want}", (p, out)


def test_paths_longer_than_path_max(make_bundle: MakeBundle, attack: str,
                                    tree: dict[str, Path]) -> None:
    cmd = f"deep {tree['rw']} 25"  # 25 x 201 bytes > 4096
    out = run_attack(make_bundle, attack, [cmd], allowed=[str(tree["rw"])])
    assert out[cmd] == "OK content"
