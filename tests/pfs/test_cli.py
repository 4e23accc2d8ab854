"""`gsc pf-crypt` end to end (real subprocess, `python -P -m gsc`) over every vector."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gsc.pfs import open_bytes

from .conftest import IDS, VEC_DIR, VECTORS


def gsc(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-P", "-m", "gsc", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def keyfile(tmp: Path, hexkey: str) -> Path:
    k = tmp / "wrap.key"
    k.write_bytes(bytes.fromhex(hexkey))
    k.chmod(0o600)
    return k


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_decrypt_vector(tmp_path: Path, v: dict[str, Any]) -> None:
    key = keyfile(tmp_path, v["key_hex"])
    out = tmp_path / "out" / "plain"
    args: list[str | Path] = ["pf-crypt", "decrypt", "-w", key, "-i", VEC_DIR / v["encrypted_file"],
                              "-o", out]
    if v["open_path"] is not None:
        args += ["--path", v["open_path"]]
    r = gsc(*args)
    if v["expected"]["result"] == "ok":
        assert r.returncode == 0, r.stderr
        assert hashlib.sha256(out.read_bytes()).hexdigest() == v["plaintext_sha256"]
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    else:
        assert r.returncode == 1, r.stderr
        assert f"refused at {v['expected']['stage']}" in r.stderr
        assert v["expected"]["message"] in r.stderr
        assert not out.exists()
        leftovers = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
        assert leftovers == []  # no partial plaintext, no temp file
    assert "Traceback" not in r.stderr
    assert v["key_hex"] not in r.stdout + r.stderr


def test_encrypt_then_gramine_layout(tmp_path: Path) -> None:
    key = tmp_path / "k"
    assert gsc("pf-crypt", "gen-key", "-w", key).returncode == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 16
    plain = tmp_path / "model.bin"
    plain.write_bytes(os.urandom(500_000))
    r = gsc("pf-crypt", "encrypt", "-w", key, "-i", plain, "-o", "enc/./model.pf", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = (tmp_path / "enc" / "model.pf").read_bytes()
    reader = open_bytes(data, key.read_bytes(), "enc/model.pf")  # bound: OUTPUT, normalised
    assert reader.read_all() == plain.read_bytes()
    r = gsc("pf-crypt", "encrypt", "-w", key, "-i", plain, "-o", tmp_path / "x.pf",
            "--path", "/secret/model.pf")
    assert r.returncode == 0
    assert open_bytes((tmp_path / "x.pf").read_bytes(), key.read_bytes(), "/secret/model.pf")


def test_decrypt_path_check(tmp_path: Path) -> None:
    key = tmp_path / "k"
    gsc("pf-crypt", "gen-key", "-w", key)
    (tmp_path / "p").write_bytes(b"secret" * 1000)
    assert gsc("pf-crypt", "encrypt", "-w", key, "-i", tmp_path / "p", "-o", tmp_path / "e",
               "--path", "/a/b").returncode == 0
    ok = gsc("pf-crypt", "decrypt", "-w", key, "-i", tmp_path / "e", "-o", tmp_path / "d1",
             "--path", "/a/b")
    assert ok.returncode == 0 and (tmp_path / "d1").read_bytes() == b"secret" * 1000
    bad = gsc("pf-crypt", "decrypt", "-w", key, "-i", tmp_path / "e", "-o", tmp_path / "d2",
              "--path", "/a/c")
    assert bad.returncode == 1 and "Invalid path" in bad.stderr and "open" in bad.stderr
    assert not (tmp_path / "d2").exists()
    unchecked = gsc("pf-crypt", "decrypt", "-w", key, "-i", tmp_path / "e", "-o", tmp_path / "d3")
    assert unchecked.returncode == 0


def test_directories_recurse(tmp_path: Path) -> None:
    key = tmp_path / "k"
    gsc("pf-crypt", "gen-key", "-w", key)
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "deep").write_bytes(os.urandom(10_000))
    (src / "top").write_bytes(b"")
    r = gsc("pf-crypt", "encrypt", "-w", key, "-i", src, "-o", tmp_path / "enc",
            "--path", "/secret", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert sorted(f["path"] for f in doc["files"]) == ["/secret/a/b/deep", "/secret/top"]
    r = gsc("pf-crypt", "decrypt", "-w", key, "-i", tmp_path / "enc", "-o", tmp_path / "dec",
            "--path", "/secret")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dec" / "a" / "b" / "deep").read_bytes() == (
        src / "a" / "b" / "deep").read_bytes()
    assert (tmp_path / "dec" / "top").read_bytes() == b""
    for d in (tmp_path / "dec" / "a", tmp_path / "dec" / "a" / "b"):
        assert stat.S_IMODE(d.stat().st_mode) & 0o077 == 0
    # files swapped inside the tree are caught by the path binding
    enc = tmp_path / "enc"
    t = (enc / "top").read_bytes()
    (enc / "top").write_bytes((enc / "a" / "b" / "deep").read_bytes())
    (enc / "a" / "b" / "deep").write_bytes(t)
    r = gsc("pf-crypt", "decrypt", "-w", key, "-i", enc, "-o", tmp_path / "dec2",
            "--path", "/secret")
    assert r.returncode == 1 and "Invalid path" in r.stderr


def test_gen_key_refuses_overwrite(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_bytes(b"old")
    r = gsc("pf-crypt", "gen-key", "-w", key)
    assert r.returncode == 2 and "exists" in r.stderr
    assert key.read_bytes() == b"old"
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    assert gsc("pf-crypt", "gen-key", "-w", link).returncode == 2
    assert not (tmp_path / "nowhere").exists()


def test_gen_key_json_never_prints_key(tmp_path: Path) -> None:
    r = gsc("pf-crypt", "gen-key", "-w", tmp_path / "k", "--json")
    assert r.returncode == 0
    key = (tmp_path / "k").read_bytes()
    assert json.loads(r.stdout)["size"] == 16
    assert key.hex() not in r.stdout + r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["pf-crypt"],
        ["pf-crypt", "encrypt", "-i", "x", "-o", "y"],
        ["pf-crypt", "frobnicate"],
    ],
)
def test_usage_errors(args: list[str]) -> None:
    r = gsc(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"0123456789")
    (tmp_path / "p").write_bytes(b"x")
    r = gsc("pf-crypt", "encrypt", "-w", short, "-i", tmp_path / "p", "-o", tmp_path / "e")
    assert r.returncode == 2 and "16 raw bytes" in r.stderr
    key = tmp_path / "k"
    gsc("pf-crypt", "gen-key", "-w", key)
    r = gsc("pf-crypt", "encrypt", "-w", key, "-i", tmp_path / "missing", "-o", tmp_path / "e")
    assert r.returncode == 2
    r = gsc("pf-crypt", "decrypt", "-w", key, "-i", tmp_path / "p", "-o", tmp_path / "d")
    assert r.returncode == 1 and "refused at open" in r.stderr  # 1 byte: not 4096-aligned


def test_wrong_key_leaves_existing_output_alone(tmp_path: Path) -> None:
    v = next(v for v in VECTORS if v["name"] == "neg_flip_data_node")
    key = keyfile(tmp_path, v["key_hex"])
    out = tmp_path / "existing"
    out.write_bytes(b"previous content")
    r = gsc("pf-crypt", "decrypt", "-w", key, "-i", VEC_DIR / v["encrypted_file"], "-o", out)
    assert r.returncode == 1 and "refused at read" in r.stderr
    assert out.read_bytes() == b"previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "wrap.key"]
