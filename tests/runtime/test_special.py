"""/dev/attestation and encrypted files in the native runtime (docs/runtime.md,
"/dev/attestation" and "Encrypted files"), in both phases: phase 2 (opens CONTINUEd, the
supervisor must still recognise these paths) and phase 1 (kept by the audit mode)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rt_bundle import Bundle, MakeBundle

from gsc.attestation import Policy, verify_quote
from gsc.pfs.writer import encrypt_bytes
from gsc.sgx.sigstruct import verify_signature

HERE = Path(__file__).resolve().parent
KEY = bytes(range(16))
OTHER = bytes(range(1, 17))
RD = bytes.fromhex("c0ffee" * 10 + "ab" * 34)
PHASES = ["phase2", "phase1"]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = Path(os.environ.get("GSC_RT_TMP", "/var/tmp")) / f"gsc-rt-probe-{os.getpid()}"
    base.mkdir(mode=0o755, exist_ok=True)
    exe = base / "special_probe"
    subprocess.run(["gcc", "-static", "-O1", "-Wall", "-Werror", "-o", str(exe),
                    str(HERE / "special_probe.c")], check=True)
    return exe


def _phase(doc: dict[str, Any], phase: str) -> None:
    if phase == "phase1":  # the audit mode never leaves phase 1
        doc["sgx"]["file_check_policy"] = "allow_all_but_log"


def _bundle(make_bundle: MakeBundle, probe: Path, phase: str, args: list[str],
            tweak: Any = None, log_level: str = "error") -> Bundle:
    # phase 2: wait until the verifier has checked everything, then run the probe
    sleep = "/bin/sleep 1.5; " if phase == "phase2" else ""
    script = sleep + " ".join([str(probe), *args])

    def t(doc: dict[str, Any]) -> None:
        _phase(doc, phase)
        if tweak:
            tweak(doc)

    return make_bundle(script, trusted=[str(probe)], tweak=t, log_level=log_level)


def _identity(b: Bundle) -> tuple[bytes, bytes, int]:
    s = verify_signature((b.gsc / "entrypoint.sig").read_bytes())
    mrsigner = hashlib.sha256(s.modulus.to_bytes(384, "little")).digest()
    return s.enclavehash, mrsigner, s.isv_prod_id


def _fields(out: str) -> dict[str, bytes]:
    return {k: bytes.fromhex(v) for k, _, v in (ln.partition("=") for ln in out.splitlines())}


@pytest.mark.parametrize("phase", PHASES)
def test_attestation_quote_verifies(make_bundle: MakeBundle, probe: Path, phase: str) -> None:
    b = _bundle(make_bundle, probe, phase,
                ["show", "attestation_type", "rd", RD.hex(), "show", "user_report_data",
                 "show", "my_target_info", "show", "report", "show", "quote"],
                log_level="debug")
    res = b.run(timeout=60)
    assert res.returncode == 0, res.stderr
    if phase == "phase2":
        assert "phase 2" in res.stderr
    f = _fields(res.stdout)
    mrenclave, mrsigner, prodid = _identity(b)
    assert f["attestation_type"] == b"simulated"
    assert f["user_report_data"] == RD
    ti = f["my_target_info"]
    assert len(ti) == 512 and ti[:32] == mrenclave
    rep = f["report"]
    assert len(rep) == 432
    assert rep[64:96] == mrenclave and rep[128:160] == mrsigner and rep[320:384] == RD
    assert rep[384:] == bytes(48)  # KEYID and MAC: zero (documented)
    q = f["quote"]
    ok = verify_quote(q, None, Policy(mrenclave=mrenclave, mrsigner=mrsigner, isvprodid=prodid,
                                      report_data=RD, allow_simulated=True))
    assert ok.accepted, ok.reason
    assert ok.simulated
    # the quote's body is the report's body
    assert q[48:48 + 384] == rep[:384]
    for policy in (Policy(mrenclave=mrenclave, report_data=RD),  # not allowed simulated
                   Policy(mrenclave=bytes(32), allow_simulated=True),
                   Policy(mrenclave=mrenclave, report_data=bytes(64), allow_simulated=True)):
        assert not verify_quote(q, None, policy).accepted


def test_report_data_is_per_process(make_bundle: MakeBundle, probe: Path) -> None:
    """A child process starts with zero report data; its writes do not reach the parent."""
    p = str(probe)
    script = (f"/bin/sleep 1.5; {p} rd {'11' * 64} show report; {p} show report; "
              f"{p} rd {'22' * 64} show report")
    b = make_bundle(script, trusted=[p])
    res = b.run(timeout=60)
    assert res.returncode == 0, res.stderr
    reps = [bytes.fromhex(ln.partition("=")[2])[320:384] for ln in res.stdout.splitlines()]
    assert reps == [b"\x11" * 64, bytes(64), b"\x22" * 64]


@pytest.mark.parametrize("phase", PHASES)
def test_attestation_refusals(make_bundle: MakeBundle, probe: Path, phase: str) -> None:
    b = _bundle(make_bundle, probe, phase,
                ["open", "/dev/attestation/quote", "w", "open", "/dev/attestation/nothing", "r",
                 "open", "/dev/attestation/keys/unknown", "w",
                 "open", "/dev/attestation/keys/model", "r"],
                tweak=lambda d: d["fs"].setdefault("mounts", []).append(
                    {"type": "encrypted", "path": "/nonexistent-enc",
                     "uri": "file:/nonexistent-enc", "key_name": "model"}))
    res = b.run(timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["open=13", "open=2", "open=2", "open=13"]


# ---- encrypted files ----------------------------------------------------------------


def _enc_tree(tmp_path: Path, data: bytes, key: bytes = KEY) -> tuple[Path, Path]:
    d = tmp_path / "enc"
    d.mkdir()
    f = d / "model.bin"
    f.write_bytes(encrypt_bytes(data, key, str(f)))
    return d, f


def _mount(d: Path, extra: dict[str, Any] | None = None) -> Any:
    def tweak(doc: dict[str, Any]) -> None:
        doc["fs"].setdefault("mounts", []).append(
            {"type": "encrypted", "path": str(d), "uri": "file:" + str(d), "key_name": "model"})
        for k, v in (extra or {}).items():
            sect, _, name = k.partition(".")
            doc.setdefault(sect, {}).setdefault(name.split(".")[0], {})
            if "." in name:
                doc[sect][name.split(".")[0]][name.split(".")[1]] = v
            else:
                doc[sect][name] = v
    return tweak


MANIFEST_KEY = {"fs.insecure__keys.model": KEY.hex(), "gsc.insecure__allow_manifest_keys": True}

DATA = os.urandom(3 * 4096 * 97 + 1234)  # several data nodes and MHT nodes


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("how", ["cat", "mmap"])
def test_encrypted_read(make_bundle: MakeBundle, probe: Path, tmp_path: Path, phase: str,
                        how: str) -> None:
    d, f = _enc_tree(tmp_path, DATA)
    b = _bundle(make_bundle, probe, phase, [how, str(f)], tweak=_mount(d, MANIFEST_KEY))
    res = subprocess.run([str(b.exe)], capture_output=True, timeout=60, cwd=str(b.root),
                         env={}, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout == DATA


@pytest.mark.parametrize("phase", PHASES)
def test_encrypted_relative_path(make_bundle: MakeBundle, probe: Path,
                                             tmp_path: Path, phase: str) -> None:
    d, _ = _enc_tree(tmp_path, b"hello")
    b = _bundle(make_bundle, probe, phase, ["cat", "enc/model.bin"],
                tweak=_mount(d, MANIFEST_KEY))
    res = b.run(timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hello"


def _fails(b: Bundle, needle: str) -> None:
    res = b.run(timeout=60)
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert "Permission denied" in res.stderr, res.stderr
    assert needle in res.stderr, res.stderr
    assert res.stdout == ""


@pytest.mark.parametrize("phase", PHASES)
def test_encrypted_wrong_or_no_key(make_bundle: MakeBundle, probe: Path, tmp_path: Path,
                                   phase: str) -> None:
    d, f = _enc_tree(tmp_path, DATA, key=OTHER)
    _fails(_bundle(make_bundle, probe, phase, ["cat", str(f)], tweak=_mount(d, MANIFEST_KEY)),
           "encrypted file")
    _fails(_bundle(make_bundle, probe, phase, ["cat", str(f)], tweak=_mount(d)), 'no key "model"')


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("damage", ["flip-meta", "flip-data", "flip-mht", "truncate",
                                    "swap", "rename"])
def test_encrypted_tampering(make_bundle: MakeBundle, probe: Path, tmp_path: Path, phase: str,
                             damage: str) -> None:
    d, f = _enc_tree(tmp_path, DATA)
    raw = bytearray(f.read_bytes())
    target = f
    if damage == "flip-meta":
        raw[100] ^= 1
    elif damage == "flip-data":
        raw[2 * 4096 + 7] ^= 0x80
    elif damage == "flip-mht":
        raw[4096 + 5] ^= 1
    elif damage == "truncate":
        raw = raw[:-4096]
    elif damage == "swap":
        a, b = slice(2 * 4096, 3 * 4096), slice(3 * 4096, 4 * 4096)
        raw[a], raw[b] = raw[b], raw[a]
    f.write_bytes(bytes(raw))
    if damage == "rename":
        target = d / "other.bin"
        f.rename(target)
    _fails(_bundle(make_bundle, probe, phase, ["cat", str(target)],
                   tweak=_mount(d, MANIFEST_KEY)), f"encrypted file {target}")


@pytest.mark.parametrize("phase", PHASES)
def test_encrypted_key_from_app(make_bundle: MakeBundle, probe: Path, tmp_path: Path,
                                phase: str) -> None:
    d, f = _enc_tree(tmp_path, b"secret weights")
    b = _bundle(make_bundle, probe, phase, ["key", "model", KEY.hex(), "cat", str(f)],
                tweak=_mount(d))
    res = b.run(timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "secret weights"
    # a wrong key written by the app: refused
    _fails(_bundle(make_bundle, probe, phase, ["key", "model", OTHER.hex(), "cat", str(f)],
                   tweak=_mount(d, MANIFEST_KEY)), "key written to /dev/attestation/keys")


def test_encrypted_key_file(make_bundle: MakeBundle, probe: Path, tmp_path: Path) -> None:
    d, f = _enc_tree(tmp_path, b"from a key file")
    shm = Path("/dev/shm") / f"gsc-special-key-{os.getpid()}"
    shm.write_bytes(KEY)
    try:
        b = _bundle(make_bundle, probe, "phase2", ["cat", str(f)],
                    tweak=_mount(d, {"gsc.encrypted_key_files.model": str(shm)}))
        res = b.run(timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "from a key file"
    finally:
        shm.unlink()
    # missing key file: a warning, then no key
    b = _bundle(make_bundle, probe, "phase2", ["cat", str(f)],
                tweak=_mount(d, {"gsc.encrypted_key_files.model": str(shm)}))
    _fails(b, 'no key "model"')
    # a key file that is part of the image's file system: refused at launch
    own = tmp_path / "key"
    own.write_bytes(KEY)
    b = _bundle(make_bundle, probe, "phase2", ["cat", str(f)],
                tweak=_mount(d, {"gsc.encrypted_key_files.model": str(own)}))
    res = b.run(timeout=60)
    assert res.returncode == 126 and "part of the image's file system" in res.stderr


@pytest.mark.parametrize("phase", PHASES)
def test_encrypted_read_only_and_not_direct(make_bundle: MakeBundle, probe: Path,
                                            tmp_path: Path, phase: str) -> None:
    d, f = _enc_tree(tmp_path, b"x")
    b = _bundle(make_bundle, probe, phase,
                ["open", str(f), "w", "open", str(d / "new"), "c", "open", str(f), "rw"],
                tweak=_mount(d, MANIFEST_KEY))
    res = b.run(timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["open=13"] * 3
    assert "read-only in native mode" in res.stderr
    assert not (d / "new").exists()


def test_encrypted_not_readable_through_a_symlink(make_bundle: MakeBundle, probe: Path,
                                                  tmp_path: Path) -> None:
    """Phase 2: a name the supervisor does not recognise reaches the kernel, whose Landlock
    domain grants nothing on encrypted files: the ciphertext is never readable."""
    d, f = _enc_tree(tmp_path, b"x")
    w = tmp_path / "w"
    w.mkdir()
    (w / "link").symlink_to(f)
    b = _bundle(make_bundle, probe, "phase2", ["cat", str(w / "link")],
                tweak=_mount(d, MANIFEST_KEY))
    b.manifest["sgx"]["allowed_files"] = sorted([*b.manifest["sgx"]["allowed_files"],
                                                 "file:" + str(w)])
    b.write()
    res = b.run(timeout=60)
    assert res.returncode == 3 and "Permission denied" in res.stderr, res.stderr
