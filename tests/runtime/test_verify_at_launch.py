"""gsc.verify_trusted_files = "at_launch": every trusted file is hashed before the app
exists, and the app's opens are then decided by the kernel (Landlock) without the
supervisor (docs/runtime.md, "Verification at launch"). The attack suite
(test_attacks.py) runs in this mode too; here: what is particular to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from rt_bundle import MakeBundle, with_verification


@pytest.fixture
def at_launch(make_bundle: MakeBundle) -> MakeBundle:
    return with_verification(make_bundle, "at_launch")


@pytest.fixture
def on_first_use(make_bundle: MakeBundle) -> MakeBundle:
    return with_verification(make_bundle, "on_first_use")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    data.mkdir()
    trusted = data / "t.txt"
    trusted.write_text("trusted\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET\n")
    return trusted, secret


def test_reads_trusted_runs_programs(at_launch: MakeBundle, tmp_path: Path) -> None:
    trusted, _ = _files(tmp_path)
    b = at_launch(f"cat {trusted} && echo ran", trusted=[str(trusted)])
    res = b.run()
    assert res.returncode == 0, res.stderr
    assert res.stdout == "trusted\nran\n"
    assert res.stderr == ""


def test_tampered_file_refuses_the_launch(at_launch: MakeBundle, tmp_path: Path) -> None:
    """On first use only the file would be refused (when read); at launch the whole launch
    is, before the app exists: exit 126, one line naming the file."""
    trusted, _ = _files(tmp_path)
    b = at_launch(f"echo started; cat {trusted}", trusted=[str(trusted)])
    trusted.write_text("tampered\n")
    res = b.run()
    assert res.returncode == 126, (res.stdout, res.stderr)
    assert res.stdout == ""   # the app never started
    lines = res.stderr.strip().splitlines()
    assert lines == [f"gsc-runtime: launch refused: trusted file {trusted} failed "
                     "verification (hash mismatch)"], res.stderr


def test_tampered_file_on_first_use_refused_when_read(on_first_use: MakeBundle,
                                                      tmp_path: Path) -> None:
    """The same tampering in the default mode, for contrast: the app starts, the read fails."""
    trusted, _ = _files(tmp_path)
    b = on_first_use(f"echo started; cat {trusted}", trusted=[str(trusted)])
    trusted.write_text("tampered\n")
    res = b.run()
    assert res.stdout == "started\n"
    assert res.returncode != 0
    assert "tampered" not in res.stdout


def test_denials_are_the_kernels(at_launch: MakeBundle, on_first_use: MakeBundle,
                                 tmp_path: Path) -> None:
    """An undeclared file is refused in both modes; only the supervisor logs denials, and at
    launch it never sees the open: the absent line shows the open did not reach it."""
    trusted, secret = _files(tmp_path)
    script = f"cat {secret}; echo rc=$?"
    lazy = on_first_use(script, trusted=[str(trusted)]).run()
    assert "TOP-SECRET" not in lazy.stdout and "rc=1" in lazy.stdout
    assert f"policy: denied open {secret}" in lazy.stderr, lazy.stderr
    fast = at_launch(script, trusted=[str(trusted)]).run()
    assert "TOP-SECRET" not in fast.stdout and "rc=1" in fast.stdout
    assert "Permission denied" in fast.stderr
    assert "policy:" not in fast.stderr, fast.stderr


def test_writes_to_trusted_and_allowed(at_launch: MakeBundle, tmp_path: Path) -> None:
    trusted, _ = _files(tmp_path)
    rw = tmp_path / "rw"
    rw.mkdir()
    b = at_launch(f"echo x > {rw}/out && echo y >> {trusted}; echo rc=$?; cat {trusted}",
                  trusted=[str(trusted)], allowed=[str(rw)])
    res = b.run()
    assert (rw / "out").read_text() == "x\n"
    assert "rc=2" in res.stdout and res.stdout.endswith("trusted\n"), res.stdout  # sh: 2
    assert "Permission denied" in res.stderr
    assert trusted.read_text() == "trusted\n"


@pytest.mark.parametrize("ra", [None, "dcap"])
def test_dev_attestation_needs_remote_attestation(at_launch: MakeBundle, tmp_path: Path,
                                                  ra: str | None) -> None:
    """/dev/attestation is the supervisor's: served when the manifest asks for remote
    attestation (opens then stay notified); without it, at launch, it does not exist."""
    def tweak(doc: dict[str, object]) -> None:
        if ra is not None:
            sgx = doc["sgx"]
            assert isinstance(sgx, dict)
            sgx["remote_attestation"] = ra

    b = at_launch("cat /dev/attestation/attestation_type; echo rc=$?", tweak=tweak)
    res = b.run()
    if ra is None:
        assert "rc=1" in res.stdout and "No such file" in res.stderr, (res.stdout, res.stderr)
    else:
        assert res.stdout.startswith("simulated") and "rc=0" in res.stdout, res.stderr


def test_debug_log_keeps_opens_notified(at_launch: MakeBundle, tmp_path: Path) -> None:
    """With loader.log_level debug the supervisor sees (and logs) opens: for diagnosis."""
    trusted, secret = _files(tmp_path)
    res = at_launch(f"cat {secret}", trusted=[str(trusted)], log_level="debug").run()
    assert "verification at launch:" in res.stderr
    assert "opens are notified" in res.stderr
    assert f"denied open {secret}" in res.stderr, res.stderr
