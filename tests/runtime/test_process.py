"""The runtime on the host, running real programs (/bin/sh, /bin/cat ...) under the policy
of a signed manifest: argv / env / cwd, trusted / allowed / denied files, exec rule,
descendants, signals and exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rt_bundle import MakeBundle, manifest_bytes

# ---------------------------------------------------------------- argv / env / cwd


def test_argv_from_manifest(make_bundle: MakeBundle) -> None:
    b = make_bundle(entrypoint="/bin/sh",
                    argv=["my-sh", "-c", 'printf "%s|" "$0" "$@"', "zero", "a b", ""])
    res = b.run()
    assert res.returncode == 0, res.stderr
    assert res.stdout == "zero|a b||"


def test_cmdline_args_refused_by_default(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo hi")
    res = b.run("extra")
    assert res.returncode == 126
    assert res.stderr.startswith("gsc-runtime: launch refused:")
    assert "insecure__use_cmdline_argv" in res.stderr
    assert res.stdout == ""


def test_insecure_cmdline_argv(make_bundle: MakeBundle) -> None:
    b = make_bundle(entrypoint="/bin/echo", insecure__use_cmdline_argv=True)
    # The command line is the whole argv (argv[0] included); the program stays pinned.
    res = b.run("echo", "from", "the command line")
    assert (res.returncode, res.stdout) == (0, "from the command line\n"), res.stderr
    res = b.run("/bin/cat", "/etc/passwd")
    assert (res.returncode, res.stdout) == (0, "/etc/passwd\n"), res.stderr
    assert (b.run().returncode, b.run().stdout) == (0, "\n")


def test_no_argv_option_runs_entrypoint_alone(make_bundle: MakeBundle) -> None:
    b = make_bundle(entrypoint="/bin/echo")
    res = b.run()
    assert (res.returncode, res.stdout) == (0, "\n"), res.stderr


def test_argv_src_file(make_bundle: MakeBundle, tmp_path: Path) -> None:
    argfile = tmp_path / "args.bin"
    argfile.write_bytes(b"echo\x00one\x00two words\x00")
    b = make_bundle(entrypoint="/bin/echo", trusted=[str(argfile)],
                    argv_src_file="file:" + str(argfile))
    res = b.run()
    assert (res.returncode, res.stdout) == (0, "one two words\n"), res.stderr


def test_argv_src_file_must_verify(make_bundle: MakeBundle, tmp_path: Path) -> None:
    argfile = tmp_path / "args.bin"
    argfile.write_bytes(b"echo\x00one\x00")
    b = make_bundle(entrypoint="/bin/echo", trusted=[str(argfile)],
                    argv_src_file="file:" + str(argfile))
    argfile.write_bytes(b"echo\x00evil\x00")
    res = b.run()
    assert res.returncode == 126 and "launch refused" in res.stderr
    assert res.stdout == ""


def test_environment_only_from_manifest(make_bundle: MakeBundle) -> None:
    b = make_bundle('printf "%s\\n" "A=$A" "P=$P" "HOST_VAR=$HOST_VAR" "MISSING=${MISSING-unset}"',
                    env={"A": "from manifest", "P": {"passthrough": True},
                         "MISSING": {"passthrough": True}})
    res = b.run(env={"P": "passed", "HOST_VAR": "leak", "A": "host A"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["A=from manifest", "P=passed", "HOST_VAR=",
                                       "MISSING=unset"]


def test_environment_exact(make_bundle: MakeBundle, host_tools: list[str]) -> None:
    # /usr/bin/env is not in host_tools: run `sh -c export -p`, a builtin.
    b = make_bundle("export -p", env={"ONLY": "1"})
    res = b.run(env={"HOST_VAR": "x"})
    names = sorted(line.split()[1].split("=")[0] for line in res.stdout.splitlines())
    assert "ONLY" in names and "HOST_VAR" not in names
    # dash adds PWD itself; nothing else from the host
    assert set(names) <= {"ONLY", "PWD", "OLDPWD", "PS1", "PS2", "PS4", "IFS", "OPTIND"}


def test_insecure_use_host_env(make_bundle: MakeBundle) -> None:
    b = make_bundle('echo "$HOST_VAR/$A"', env={"A": "manifest"}, insecure__use_host_env=True)
    res = b.run(env={"HOST_VAR": "host", "A": "host A"})
    assert (res.returncode, res.stdout) == (0, "host/manifest\n"), res.stderr


def test_start_dir(make_bundle: MakeBundle, tmp_path: Path) -> None:
    sub = tmp_path / "work dir"
    sub.mkdir()
    b = make_bundle("pwd", start_dir=str(sub))
    res = b.run(cwd="/")
    assert (res.returncode, res.stdout) == (0, f"{sub}\n"), res.stderr


def test_user_is_kept(make_bundle: MakeBundle) -> None:
    res = make_bundle("cat /proc/self/status", allowed=["/proc"]).run()
    assert res.returncode == 0, res.stderr
    fields = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    assert fields["Uid"].split()[:2] == [str(os.getuid())] * 2
    assert fields["Gid"].split()[:2] == [str(os.getgid())] * 2


# ---------------------------------------------------------------- file policy


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    d = {"trusted": tmp_path / "trusted.txt", "secret": tmp_path / "secret.txt",
         "allowed": tmp_path / "rw"}
    d["trusted"].write_text("trusted content\n")
    d["secret"].write_text("secret\n")
    d["allowed"].mkdir()
    (d["allowed"] / "old.txt").write_text("old\n")
    return d


def policy_bundle(make_bundle: MakeBundle, files: dict[str, Path], script: str,
                  **kw: object):  # type: ignore[no-untyped-def]
    return make_bundle(script, trusted=[str(files["trusted"])],
                       allowed=[str(files["allowed"])], **kw)


def test_trusted_file_readable(make_bundle: MakeBundle, files: dict[str, Path]) -> None:
    res = policy_bundle(make_bundle, files, "cat trusted.txt; cat trusted.txt").run()
    assert (res.returncode, res.stdout) == (0, "trusted content\n" * 2), res.stderr


def test_denied_file(make_bundle: MakeBundle, files: dict[str, Path]) -> None:
    res = policy_bundle(make_bundle, files, "cat secret.txt").run()
    assert res.returncode == 1
    assert "Permission denied" in res.stderr
    assert "secret\n" not in res.stdout
    assert "gsc-runtime: policy: denied open" in res.stderr and "secret.txt" in res.stderr


def test_any_directory_lists_but_its_files_stay_denied(make_bundle: MakeBundle,
                                                      files: dict[str, Path]) -> None:
    """Directories may be listed (names, never contents) in both phases: Landlock's
    READ_DIR on the directories of trusted files holds beneath them; the undeclared file
    inside stays unreadable and nothing is logged for the listing."""
    d = files["trusted"].parent / "emptydir"
    d.mkdir()
    (d / "inside.txt").write_text("hidden\n")
    script = "echo emptydir/*; cat emptydir/inside.txt; echo rc=$?"
    res = policy_bundle(make_bundle, files, script).run()
    assert res.stdout == "emptydir/inside.txt\nrc=1\n", res.stderr
    assert "hidden" not in res.stdout


def test_allowed_read_write_create(make_bundle: MakeBundle, files: dict[str, Path]) -> None:
    script = ("cat rw/old.txt && echo new > rw/new.txt && echo more >> rw/old.txt && "
              "mkdir rw/d && mv rw/new.txt rw/d/n && rm rw/old.txt && ln -s x rw/l && "
              "cat rw/d/n")
    res = policy_bundle(make_bundle, files, script).run()
    assert (res.returncode, res.stdout) == (0, "old\nnew\n"), res.stderr
    assert (files["allowed"] / "d" / "n").read_text() == "new\n"
    assert not (files["allowed"] / "old.txt").exists()


def test_readonly_path_read_not_written(make_bundle: MakeBundle, files: dict[str, Path],
                                        tmp_path: Path) -> None:
    """gsc.readonly_files: an input directory is readable and listable, and nothing in it
    can be written, created, removed or renamed (the supervisor in phase 1, Landlock in
    phase 2: the sequence runs before and after the verifier finishes)."""
    ro = tmp_path / "input"
    ro.mkdir()
    (ro / "a.txt").write_text("alpha\n")
    (ro / "sub").mkdir()
    (ro / "sub" / "b.txt").write_text("beta\n")

    def tweak(doc: dict[str, Any]) -> None:
        doc.setdefault("gsc", {})["readonly_files"] = ["file:" + str(ro)]

    seq = ("cat input/a.txt input/sub/b.txt; echo input/*; "
           "(echo x >> input/a.txt) 2>/dev/null; echo w=$?; "
           "(echo x > input/new.txt) 2>/dev/null; echo c=$?; "
           "rm -f input/a.txt 2>/dev/null; echo r=$?; "
           "mv input/sub/b.txt input/b2 2>/dev/null; echo m=$?; "
           "mkdir input/d 2>/dev/null; echo d=$?; ")
    res = make_bundle(seq + "sleep 1; " + seq, trusted=[str(files["trusted"])],
                      tweak=tweak).run()
    once = "alpha\nbeta\ninput/a.txt input/sub\nw=2\nc=2\nr=1\nm=1\nd=1\n"
    assert (res.returncode, res.stdout) == (0, once * 2), res.stderr
    assert (ro / "a.txt").read_text() == "alpha\n"
    assert sorted(p.name for p in ro.iterdir()) == ["a.txt", "sub"]
    assert "read-only path" in res.stderr


def test_created_file_mode_follows_umask(make_bundle: MakeBundle,
                                         files: dict[str, Path]) -> None:
    res = policy_bundle(make_bundle, files, "umask 027; echo x > rw/m").run()
    assert res.returncode == 0, res.stderr
    assert (files["allowed"] / "m").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("script", [
    "echo x >> trusted.txt",
    "echo x > trusted.txt",
    "rm -f trusted.txt",
    "mv trusted.txt rw/",
    "ln trusted.txt rw/hard",
    "ln -s $PWD/trusted.txt rw/sym && echo x >> rw/sym",
    "exec 3<trusted.txt; echo x >> /proc/self/fd/3",
    "exec 3<trusted.txt; echo x >> /dev/fd/3",
])
def test_trusted_file_cannot_be_modified(make_bundle: MakeBundle, files: dict[str, Path],
                                         script: str) -> None:
    before = files["trusted"].read_bytes()
    st = files["trusted"].stat()
    res = policy_bundle(make_bundle, files, script).run()
    assert res.returncode != 0, (script, res.stdout, res.stderr)
    # Refused by the supervisor (a log line) or by the kernel's Landlock domain (the
    # path-modifying calls, and opens once phase 2 lets the kernel answer): either way
    # the app sees a refusal and nothing changes.
    assert ("gsc-runtime: policy: denied" in res.stderr
            or "Permission denied" in res.stderr
            or "Invalid cross-device link" in res.stderr), res.stderr
    assert files["trusted"].read_bytes() == before
    st2 = files["trusted"].stat()
    assert (st2.st_ino, st2.st_nlink) == (st.st_ino, st.st_nlink)


def test_tampered_trusted_file_gives_eperm(make_bundle: MakeBundle,
                                           files: dict[str, Path]) -> None:
    b = policy_bundle(make_bundle, files, "cat trusted.txt")
    data = bytearray(files["trusted"].read_bytes())
    data[3] ^= 0x20
    files["trusted"].write_bytes(bytes(data))
    res = b.run()
    assert res.returncode == 1
    assert "Operation not permitted" in res.stderr  # EPERM, as Gramine answers
    assert "SHA-256 mismatch" in res.stderr
    assert res.stdout == ""


def test_exec_of_untrusted_program_refused(make_bundle: MakeBundle, tmp_path: Path) -> None:
    prog = tmp_path / "rw" / "prog"
    prog.parent.mkdir()
    prog.write_bytes(Path("/bin/echo").resolve().read_bytes())  # a real program, untrusted
    prog.chmod(0o755)
    b = make_bundle(f"{prog} hi; echo rc=$?", allowed=[str(prog.parent)])
    res = b.run()
    assert res.stdout == "rc=126\n", res.stderr
    assert "is not a trusted file" in res.stderr


def test_exec_of_untrusted_script_interpreter_refused(make_bundle: MakeBundle,
                                                      tmp_path: Path) -> None:
    script = tmp_path / "s.sh"
    script.write_text("#!/bin/sh\necho from script\n")
    script.chmod(0o755)
    ok = make_bundle(str(script), trusted=[str(script)]).run()
    assert (ok.returncode, ok.stdout) == (0, "from script\n"), ok.stderr
    # Interpreter not trusted: /usr/bin/perl-like fake path pointing at untrusted echo.
    script.write_text(f"#!{tmp_path}/interp\n")
    (tmp_path / "interp").write_bytes(Path("/bin/echo").resolve().read_bytes())
    (tmp_path / "interp").chmod(0o755)
    res = make_bundle(f"{script}; echo rc=$?", trusted=[str(script)]).run()
    assert res.stdout == "rc=126\n", res.stderr
    assert "interpreter" in res.stderr


def test_pipeline_and_children_keep_policy(make_bundle: MakeBundle,
                                           files: dict[str, Path]) -> None:
    script = ("cat trusted.txt | cat | cat; "
              "(cat secret.txt; echo sub=$?) ; "
              "sh -c 'cat secret.txt; echo grandchild=$?' & wait; "
              "cat secret.txt 2>/dev/null | cat; echo pipe=$?")
    res = policy_bundle(make_bundle, files, script).run()
    assert "secret\n" not in res.stdout
    assert res.stdout.splitlines() == ["trusted content", "sub=1", "grandchild=1", "pipe=0"]
    # Every child was refused (cat says so twice, the third is silenced); the supervisor
    # reports the first denial of each path at the default level (rate-limited).
    assert res.stderr.count("cat: secret.txt: Permission denied") == 2
    assert res.stderr.count("policy: denied open") == 1


def test_forking_server_children_policed(make_bundle: MakeBundle,
                                         files: dict[str, Path]) -> None:
    # A parent that forks workers which outlive nothing: each worker is policed.
    script = ("for i in 1 2 3; do (cat secret.txt >/dev/null 2>&1; echo w$i=$?) & done; wait")
    res = policy_bundle(make_bundle, files, script).run()
    assert sorted(res.stdout.split()) == ["w1=1", "w2=1", "w3=1"], res.stderr


def test_allow_all_but_log(make_bundle: MakeBundle, files: dict[str, Path]) -> None:
    def tweak(doc: dict) -> None:  # type: ignore[type-arg]
        doc["sgx"]["file_check_policy"] = "allow_all_but_log"
        doc["sgx"]["debug"] = True

    res = policy_bundle(make_bundle, files, "cat secret.txt", tweak=tweak,
                        log_level="warning").run()
    assert (res.returncode, res.stdout) == (0, "secret\n"), res.stderr
    assert "allow_all_but_log" in res.stderr and "secret.txt" in res.stderr


def test_debug_log_every_decision(make_bundle: MakeBundle, files: dict[str, Path]) -> None:
    res = policy_bundle(make_bundle, files, "cat trusted.txt", log_level="debug").run()
    assert res.returncode == 0
    lines = [x for x in res.stderr.splitlines() if x.startswith("gsc-runtime: policy:")]
    assert any("execve /bin/sh: allowed" in x for x in lines)
    # phase 1: the supervisor verified and handed over; phase 2: the kernel decided
    assert any("trusted.txt (trusted, verified): allowed" in x
               or ("trusted.txt: left to the kernel" in x) for x in lines), lines


def test_error_level_is_quiet_when_all_is_well(make_bundle: MakeBundle,
                                               files: dict[str, Path]) -> None:
    res = policy_bundle(make_bundle, files, "cat trusted.txt").run()
    assert res.stderr == ""


# ---------------------------------------------------------------- signals, exit codes


def test_exit_status_propagates(make_bundle: MakeBundle) -> None:
    assert make_bundle("exit 7").run().returncode == 7


def test_killed_by_signal_gives_128_plus_n(make_bundle: MakeBundle) -> None:
    assert make_bundle("kill -USR1 $$").run().returncode == 128 + signal.SIGUSR1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                                 signal.SIGQUIT, signal.SIGUSR2])
def test_signals_forwarded(make_bundle: MakeBundle, sig: int) -> None:
    b = make_bundle(entrypoint="/bin/sleep", argv=["sleep", "30"])
    p = subprocess.Popen([str(b.exe)], stderr=subprocess.PIPE, env={})
    time.sleep(0.3)
    t0 = time.monotonic()
    p.send_signal(sig)
    rc = p.wait(timeout=5)
    assert rc == 128 + sig
    assert time.monotonic() - t0 < 2


def test_trapped_signal_lets_app_choose_status(make_bundle: MakeBundle) -> None:
    b = make_bundle("trap 'echo bye; exit 3' TERM; while :; do sleep 0.05; done")
    p = subprocess.Popen([str(b.exe)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={})
    time.sleep(0.4)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=5)
    assert (p.returncode, out) == (3, b"bye\n"), err


def test_orphans_reaped(make_bundle: MakeBundle) -> None:
    # The shell starts a background job and exits; the runtime exits with the shell.
    res = make_bundle("sleep 0.2 & exit 4").run(timeout=10)
    assert res.returncode == 4


def test_canonical_manifest_written_by_python(make_bundle: MakeBundle) -> None:
    b = make_bundle("true")
    assert (b.gsc / "entrypoint.manifest.sgx").read_bytes() == manifest_bytes(b.manifest)
