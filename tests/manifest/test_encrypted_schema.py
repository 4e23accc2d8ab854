"""fs.mounts type "encrypted", fs.insecure__keys, gsc.encrypted_key_files: the Python schema
and the C reader accept and refuse the same manifests (docs/encrypted-files.md)."""

from __future__ import annotations

from typing import Any

import pytest
from gsc._native import ffi, lib

from gsc.errors import InputError
from gsc.manifest import canonical, schema

KEY = "00112233445566778899aabbccddeeff"


def _doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "libos": {"entrypoint": "/bin/app"},
        "fs": {"mounts": [{"type": "encrypted", "path": "/models", "uri": "file:/models",
                           "key_name": "model"}]},
        "sgx": {"debug": True, "trusted_files": [{"uri": "file:/bin/app", "sha256": "0" * 64}]},
    }
    for k, v in extra.items():
        sect, _, name = k.partition("__")
        doc.setdefault(sect, {}).update({name: v} if name else v)
    return doc


def _c(doc: dict[str, Any]) -> tuple[Any, str]:
    data = canonical.dumps(schema.canonicalise(doc))
    m = ffi.new("gsc_manifest *")
    err = ffi.new("char[512]")
    if lib.gsc_manifest_parse(data, len(data), m, err, 512) != 0:
        return None, ffi.string(err).decode()
    view = {
        "encrypted": [(ffi.string(m.encrypted[i].path).decode(),
                       ffi.string(m.encrypted[i].key_name).decode()) for i in range(m.nencrypted)],
        "keys": {ffi.string(m.insecure_keys[i].name).decode():
                 bytes(ffi.buffer(m.insecure_keys[i].key, 16)).hex()
                 for i in range(m.ninsecure_keys)},
        "files": {ffi.string(m.key_files[i].name).decode(): ffi.string(m.key_files[i].path).decode()
                  for i in range(m.nkey_files)},
    }
    lib.gsc_manifest_free(m)
    return view, ""


def _both(doc: dict[str, Any]) -> tuple[Any, str]:
    try:
        schema.validate(schema.canonicalise(doc), "m")
        py = ""
    except InputError as e:
        py = str(e)
    view, cerr = _c(doc)
    assert (py == "") == (view is not None), (py, cerr)
    return view, py or cerr


def test_accepted_and_read() -> None:
    doc = _doc()
    doc["fs"]["insecure__keys"] = {"model": KEY.upper()}
    doc["gsc"] = {"encrypted_key_files": {"model": "/run/secrets/model"}}
    view, err = _both(doc)
    assert err == ""
    assert view["encrypted"] == [("/models", "model")]
    assert view["keys"] == {"model": KEY}
    assert view["files"] == {"model": "/run/secrets/model"}


def test_default_key_name() -> None:
    doc = _doc()
    del doc["fs"]["mounts"][0]["key_name"]
    view, _ = _both(doc)
    assert view["encrypted"] == [("/models", "default")]


@pytest.mark.parametrize("change, needle", [
    (lambda d: d["fs"]["mounts"][0].update(key_name="_sgx_mrenclave"), "key"),
    (lambda d: d["fs"]["mounts"][0].update(uri="file:/elsewhere"), "identity"),
    (lambda d: d["fs"]["mounts"][0].pop("uri"), "uri"),
    (lambda d: d["fs"]["mounts"][0].update(path="/", uri="file:/"), "/"),
    (lambda d: d["fs"]["mounts"].append({"type": "chroot", "path": "/x", "uri": "file:/x",
                                          "key_name": "k"}), "key_name"),
    (lambda d: d["sgx"]["trusted_files"].append({"uri": "file:/models/a", "sha256": "0" * 64}),
     "never trusted"),
    (lambda d: d["sgx"].update(allowed_files=["file:/models/out"]), "writes"),
    (lambda d: d["sgx"].update(allowed_files=["file:/"]), "writes"),
    (lambda d: d["fs"]["mounts"].append({"type": "tmpfs", "path": "/models/tmp"}), "writes"),
    (lambda d: d["fs"].update(insecure__keys={"model": "00"}), "hex"),
    (lambda d: d["fs"].update(insecure__keys={"model": KEY}) or d["sgx"].update(debug=False),
     "non-debug"),
    (lambda d: d.update(gsc={"encrypted_key_files": {"model": "relative"}}), "path"),
])
def test_refused_by_both(change: Any, needle: str) -> None:
    doc = _doc()
    change(doc)
    view, err = _both(doc)
    assert view is None, err


def test_manifest_keys_allowed_explicitly() -> None:
    doc = _doc()
    doc["sgx"]["debug"] = False
    doc["fs"]["insecure__keys"] = {"model": KEY}
    doc["gsc"] = {"insecure__allow_manifest_keys": True}
    view, err = _both(doc)
    assert err == "" and view["keys"] == {"model": KEY}
