"""Signing inside a PKCS#11 token (SoftHSM2, real): byte-identical to PEM signing, keys
generated in the token never leave it, the PIN never leaks, bad inputs are one-line errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gsc.errors import InputError
from gsc.sgx import sigstruct
from gsc.sgx.pkcs11_uri import parse

from .conftest import USER_PIN, Run, SoftHsm, assert_one_line_error, gsc

DATE = "2025-03-04"


def _pem(path: Path, bits: int = 3072, e: int = 3) -> Path:
    key = rsa.generate_private_key(public_exponent=e, key_size=bits)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def _sign(manifest: Path, pal: Path, key: str | Path, out: Path,
          env: dict[str, str] | None = None) -> Run:
    return gsc("sgx-sign", "--manifest", manifest, "--pal", pal, "--key", key,
               "--date", DATE, "--output", out, "--json", env=env)


# --------------------------------------------------------------------------- signing


def test_token_signature_is_byte_identical_to_pem(
    softhsm: SoftHsm, tmp_path: Path, manifest: Path, pal: Path
) -> None:
    pem = _pem(tmp_path / "key.pem")
    softhsm.import_pem(pem, "imported", "a1b2")
    by_pem, by_token = tmp_path / "pem.sig", tmp_path / "token.sig"
    r1 = _sign(manifest, pal, pem, by_pem)
    assert r1.code == 0, r1.err
    r2 = _sign(manifest, pal, softhsm.uri("imported"), by_token, env=softhsm.env)
    assert r2.code == 0, r2.err
    assert by_token.read_bytes() == by_pem.read_bytes()
    # ...also selecting the key by id alone, with the PIN from the environment.
    by_id = tmp_path / "id.sig"
    r3 = _sign(manifest, pal, f"pkcs11:token={softhsm.token};id=%a1%b2", by_id,
               env={**softhsm.env, "GSC_PKCS11_PIN": USER_PIN})
    assert r3.code == 0, r3.err
    assert by_id.read_bytes() == by_pem.read_bytes()
    s = sigstruct.verify(by_token.read_bytes(), manifest.read_bytes(), pal.read_bytes())
    assert (s.isv_prod_id, s.isv_svn, s.date) == (7, 3, dt.date.fromisoformat(DATE))


def test_gen_key_in_token_then_sign_and_verify(
    softhsm: SoftHsm, tmp_path: Path, manifest: Path, pal: Path
) -> None:
    made = gsc("gen-key", softhsm.uri("release-2025"), "--json", env=softhsm.env)
    assert made.code == 0, made.err
    info = made.json()
    uri = str(info["key"])
    assert uri.startswith(f"pkcs11:token={softhsm.token};object=release-2025;id=%")
    assert f"pin-source=file:{softhsm.pin_file}" in uri
    out = tmp_path / "enclave.sig"
    signed = _sign(manifest, pal, uri, out, env=softhsm.env)
    assert signed.code == 0, signed.err
    s = sigstruct.verify(out.read_bytes(), manifest.read_bytes(), pal.read_bytes())
    assert s.mrsigner.hex() == info["mrsigner"]
    view = gsc("sigstruct-view", out, "--json")
    assert view.code == 0 and view.json()["mrsigner"] == info["mrsigner"]

    # The same label again is refused (never a second key under one name).
    again = gsc("gen-key", softhsm.uri("release-2025"), env=softhsm.env)
    assert "already has an object with this label" in assert_one_line_error(again)

    # The key pair as the token holds it, read independently through PKCS#11.
    probe = softhsm.python(
        "import sys, json, pkcs11\n"
        "from pkcs11 import Attribute as A, ObjectClass as O\n"
        "lib = pkcs11.lib(sys.argv[1])\n"
        "tok = lib.get_token(token_label=sys.argv[2])\n"
        "with tok.open(user_pin=sys.argv[3]) as s:\n"
        "    k = s.get_key(object_class=O.PRIVATE_KEY, label='release-2025')\n"
        "    p = s.get_key(object_class=O.PUBLIC_KEY, label='release-2025')\n"
        "    try:\n"
        "        k[A.PRIVATE_EXPONENT]; leaked = True\n"
        "    except pkcs11.exceptions.AttributeSensitive:\n"
        "        leaked = False\n"
        "    print(json.dumps({'extractable': k[A.EXTRACTABLE], 'sensitive': k[A.SENSITIVE],\n"
        "        'never_extractable': k[A.NEVER_EXTRACTABLE], 'always_sensitive':\n"
        "        k[A.ALWAYS_SENSITIVE], 'token': k[A.TOKEN], 'leaked': leaked,\n"
        "        'e': p[A.PUBLIC_EXPONENT].hex(), 'bits': len(p[A.MODULUS]) * 8}))\n",
        _module(), softhsm.token, USER_PIN,
    )
    assert probe.returncode == 0, probe.stderr
    attrs = json.loads(probe.stdout)
    assert attrs == {"extractable": False, "sensitive": True, "never_extractable": True,
                     "always_sensitive": True, "token": True, "leaked": False,
                     "e": "03", "bits": 3072}


def _module() -> str:
    from .conftest import softhsm_module

    return softhsm_module()


def test_module_path_from_uri_and_environment(
    softhsm: SoftHsm, tmp_path: Path, manifest: Path, pal: Path
) -> None:
    pem = _pem(tmp_path / "key.pem")
    softhsm.import_pem(pem, "k", "01")
    ref = tmp_path / "ref.sig"
    assert _sign(manifest, pal, pem, ref).code == 0
    via_uri = tmp_path / "u.sig"
    uri = (f"pkcs11:token={softhsm.token};object=k?module-path={_module()}"
           f"&pin-source=file:{softhsm.pin_file}")
    assert _sign(manifest, pal, uri, via_uri, env=softhsm.env).code == 0
    via_env = tmp_path / "e.sig"
    r = _sign(manifest, pal, softhsm.uri("k"), via_env,
              env={**softhsm.env, "GSC_PKCS11_MODULE": _module()})
    assert r.code == 0
    assert via_uri.read_bytes() == via_env.read_bytes() == ref.read_bytes()


# --------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def token_with_keys(module_softhsm: SoftHsm) -> SoftHsm:
    d = module_softhsm.root
    module_softhsm.import_pem(_pem(d / "good.pem"), "good", "01")
    module_softhsm.import_pem(_pem(d / "small.pem", bits=2048), "rsa2048", "02")
    module_softhsm.import_pem(_pem(d / "e65537.pem", e=65537), "e65537", "03")
    return module_softhsm


@pytest.mark.parametrize(
    ("key", "env", "expect"),
    [
        ("{good}", {"GSC_PKCS11_PIN": "wrong-pin-31337"}, "wrong PIN"),
        ("pkcs11:token=no-such-token;object=good", {"GSC_PKCS11_PIN": USER_PIN},
         "token 'no-such-token' not found"),
        ("{missing}", {}, "no private key object 'missing'"),
        ("{rsa2048}", {}, "RSA key is 2048 bits, SGX needs RSA-3072"),
        ("{e65537}", {}, "RSA public exponent is 65537, SGX needs 3"),
        ("{good}", {"GSC_PKCS11_MODULE": "/nonexistent/libnothing.so"}, "module"),
        ("pkcs11:token=T;object=good", {"GSC_PKCS11_PIN": USER_PIN,
                                        "GSC_PKCS11_MODULE": "/etc/hostname"},
         "cannot load PKCS#11 module /etc/hostname"),
        ("pkcs11:token={tok};object=good", {}, "no PIN for the PKCS#11 token"),
        ("pkcs11:token={tok};object=good?pin-value=" + USER_PIN, {}, "pin-value is refused"),
        ("pkcs11:token={tok};object=good;pin-source=file:/x", {}, "query attribute"),
        ("pkcs11:token={tok};object=good?pin-source=file:/nonexistent/pin", {},
         "cannot read PIN file"),
        ("pkcs11:token={tok};object=good;colour=blue", {}, "unsupported path attribute"),
        ("pkcs11:token={tok}", {}, "name the key with object="),
        ("pkcs11:token={tok};object=good;type=public", {}, "type=private"),
    ],
    ids=["wrong-pin", "missing-token", "missing-object", "rsa2048", "e65537", "no-module",
         "not-a-module", "no-pin", "pin-value", "query-in-path", "pin-file-missing",
         "unknown-attr", "no-object", "public-type"],
)
def test_bad_pkcs11_input_is_a_one_line_error(
    token_with_keys: SoftHsm, tmp_path: Path, manifest: Path, pal: Path, key: str,
    env: dict[str, str], expect: str
) -> None:
    hsm = token_with_keys
    spec = key.format(good=hsm.uri("good"), missing=hsm.uri("missing"),
                      rsa2048=hsm.uri("rsa2048"), e65537=hsm.uri("e65537"), tok=hsm.token)
    if spec.startswith(f"pkcs11:token={hsm.token};object=good?pin-source=file:") and env.get(
            "GSC_PKCS11_PIN"):
        spec = spec.split("?", 1)[0]  # the wrong PIN must come from the environment
    out = tmp_path / "never.sig"
    res = _sign(manifest, pal, spec, out, env={**hsm.env, **env})
    line = assert_one_line_error(res)
    assert expect in line, line
    assert not out.exists()
    assert USER_PIN not in res.err + res.out
    assert "wrong-pin-31337" not in res.err


def test_passphrase_file_with_a_token_key_is_refused(
    softhsm: SoftHsm, tmp_path: Path, manifest: Path, pal: Path
) -> None:
    pf = tmp_path / "pass"
    pf.write_text("x\n")
    res = gsc("sgx-sign", "--manifest", manifest, "--pal", pal, "--key", softhsm.uri("k"),
              "--passphrase-file", pf, "--output", tmp_path / "o.sig", env=softhsm.env)
    assert "PIN comes from pin-source" in assert_one_line_error(res)
    res = gsc("gen-key", softhsm.uri("k"), "--passphrase-file", pf, env=softhsm.env)
    assert "--passphrase-file is for PEM keys" in assert_one_line_error(res)


def test_pin_never_in_output_and_no_pin_option(
    softhsm: SoftHsm, tmp_path: Path, manifest: Path, pal: Path
) -> None:
    """Every token path, successful or not, debug or not: the PIN appears in no output."""
    runs = [
        gsc("gen-key", softhsm.uri("leak-check"), env=softhsm.env),
        gsc("gen-key", softhsm.uri("leak-check2"), "--json", env=softhsm.env),
        _sign(manifest, pal, softhsm.uri("leak-check"), tmp_path / "a.sig", env=softhsm.env),
        _sign(manifest, pal, softhsm.uri("leak-check").split("?")[0], tmp_path / "b.sig",
              env={**softhsm.env, "GSC_PKCS11_PIN": USER_PIN}),
        _sign(manifest, pal, softhsm.uri("nope"), tmp_path / "c.sig", env=softhsm.env),
        gsc("sgx-sign", "--manifest", manifest, "--pal", pal, "--key",
            softhsm.uri("leak-check"), "--output", tmp_path / "d.sig",
            env={**softhsm.env, "GSC_DEBUG": "1"}),
    ]
    for r in runs:
        assert USER_PIN not in r.out + r.err
    for sig in tmp_path.glob("*.sig"):
        assert USER_PIN.encode() not in sig.read_bytes()
    # No command offers a PIN option: argv can only carry a PIN through pin-value, which
    # the URI parser refuses (see the bad-input matrix).
    for cmd in ("build", "sign-image", "sgx-sign", "gen-key"):
        help_text = gsc(cmd, "--help").out.lower()
        assert "--pin" not in help_text, cmd


# --------------------------------------------------------------------------- URI parsing


def test_uri_parsing_follows_rfc7512() -> None:
    u = parse("pkcs11:token=My%20Token;object=sgx%3bkey;id=%01%ff;serial=ABC;slot-id=5"
              "?module-path=/usr/lib/x.so&pin-source=file:/run/pin")
    assert (u.token, u.object, u.id, u.serial, u.slot_id) == (
        "My Token", "sgx;key", b"\x01\xff", "ABC", 5)
    assert (u.module_path, u.pin_source) == ("/usr/lib/x.so", "file:/run/pin")
    assert parse("PKCS11:object=a").object == "a"
    again = parse(u.key_uri())
    assert (again.token, again.object, again.id, again.module_path, again.pin_source) == (
        u.token, u.object, u.id, u.module_path, u.pin_source)
    for bad in ("pkcs11:object=a;object=b", "pkcs11:object=%zz", "pkcs11:object=a#frag",
                "pkcs11:object", "pkcs11:object=a;slot-id=x", "file:/key.pem",
                "pkcs11:object=a?pin-value=1", "pkcs11:object=a?module-name=softhsm",
                "pkcs11:id="):
        with pytest.raises(InputError):
            parse(bad)


def test_config_file_key_may_be_a_token_uri(tmp_path: Path) -> None:
    from gsc.shield.config import load_config

    cfg = tmp_path / "gsc.yaml"
    cfg.write_text('key: "pkcs11:token=ci;object=release?pin-source=file:/run/secrets/pin"\n')
    assert load_config(cfg).key == "pkcs11:token=ci;object=release?pin-source=file:/run/secrets/pin"
    cfg.write_text("key: keys/enclave.pem\n")
    assert load_config(cfg).key == (tmp_path / "keys" / "enclave.pem").resolve()
