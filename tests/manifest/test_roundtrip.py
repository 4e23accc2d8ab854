"""Python writer -> tomllib / Python reader / strict C reader agree on generated manifests."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from manifest_testlib import c_parse, expected_view, manifest_docs

from gsc.errors import InputError
from gsc.manifest import canonical, schema

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.slow
@FAST
@given(manifest_docs())
def test_generated_manifest_roundtrips(raw: dict[str, Any]) -> None:
    doc = schema.canonicalise(raw)
    schema.validate(doc, "gen")
    data = canonical.dumps(doc)
    # (a) plain TOML readers see the same data
    assert tomllib.loads(data.decode("utf-8")) == doc
    # (c) the form is a fixed point and the Python reader accepts it
    assert canonical.dumps(tomllib.loads(data.decode("utf-8"))) == data
    assert schema.load(data, "gen") == doc
    assert canonical.is_canonical(data)
    assert schema.render(doc, "gen") == data
    _assert_same_as_loaded(raw, data)
    # (b) the C reader sees the same values
    view, err = c_parse(data)
    assert err == ""
    assert view == expected_view(doc)


@pytest.mark.slow
@FAST
@given(manifest_docs(), st.data())
def test_mutations_refused_or_accepted_by_both(raw: dict[str, Any], data: st.DataObject) -> None:
    """Differential: after a random edit, C accepts exactly when Python accepts, and then
    both see the same values."""
    good = canonical.dumps(schema.canonicalise(raw))
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "swap", "dup", "cut"]))
    buf = bytearray(good)
    pos = data.draw(st.integers(0, len(buf) - 1))
    if kind == "flip":
        buf[pos] = data.draw(st.sampled_from(b' \t\r\n"\\{}[],=.0-9azAZ\x00\x7f\xc3\xa9\xff'))
    elif kind == "insert":
        buf[pos:pos] = data.draw(st.sampled_from([b" ", b"\\", b'"', b",", b"\n", b"0", b"\xc3"]))
    elif kind == "delete":
        del buf[pos]
    elif kind == "cut":
        del buf[pos:]
    else:
        lines = bytes(buf).split(b"\n")[:-1]
        i = data.draw(st.integers(1, max(1, len(lines) - 1)))
        j = data.draw(st.integers(1, max(1, len(lines) - 1)))
        if kind == "swap" and i < len(lines) and j < len(lines):
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "dup" and i < len(lines):
            lines.insert(i, lines[i])
        buf = bytearray(b"\n".join(lines) + b"\n")
    mutated = bytes(buf)
    try:
        doc = schema.load(mutated, "m")
    except InputError:
        doc = None
    view, err = c_parse(mutated)
    if doc is None:
        assert view is None, f"C accepted what Python refused: {mutated!r}"
        assert err.startswith("line ")
    else:
        assert view is not None, f"C refused what Python accepted ({err}): {mutated!r}"
        assert view == expected_view(doc)


def test_every_truncation_agrees() -> None:
    doc = {
        "libos": {"entrypoint": "/bin/sh"},
        "loader": {
            "argv": ["sh", "-c", "echo \"hi\"\n"],
            "env": {"A": "1", "B": {"passthrough": True}},
        },
        "fs": {"mounts": [{"path": "/run", "type": "tmpfs"}], "start_dir": "/"},
        "sgx": {
            "enclave_size": "4G",
            "trusted_files": [{"uri": "file:/bin/sh", "sha256": "ab" * 32}],
            "allowed_files": ["file:/tmp"],
        },
    }
    data = schema.render(doc, "t")
    for n in range(len(data)):
        cut = data[:n]
        py_ok = canonical.is_canonical(cut)
        try:
            schema.load(cut, "t")
            full_ok = True
        except InputError:
            full_ok = False
        view, _ = c_parse(cut)
        assert (view is not None) == full_ok, n
        if full_ok:
            assert py_ok


@pytest.mark.slow
def test_large_trusted_list_is_fast() -> None:
    import time

    n = 50_000
    doc = {
        "libos": {"entrypoint": "/usr/bin/app"},
        "sgx": {
            "trusted_files": [
                {"uri": f"file:/usr/lib/pkg{i // 100:04d}/file{i:06d}.so", "sha256": f"{i:064x}"}
                for i in range(n)
            ]
        },
    }
    data = schema.render(doc, "big")
    t0 = time.perf_counter()
    view, err = c_parse(data)
    elapsed = time.perf_counter() - t0
    assert err == "" and view is not None
    assert len(view["trusted"]) == n
    assert view["trusted"][123] == (f"/usr/lib/pkg0001/file{123:06d}.so", f"{123:064x}")
    print(f"C parse of {n} trusted files ({len(data)} bytes): {elapsed * 1000:.1f} ms")
    assert elapsed < 2.0


@pytest.mark.parametrize(
    "value",
    [1.5, float("nan")],
)
def test_floats_refused_by_writer(value: float) -> None:
    with pytest.raises(canonical.DumpError, match="floats"):
        canonical.dumps({"sgx": {"x": value}})


def test_writer_refusals() -> None:
    import datetime

    cases: list[tuple[dict[str, Any], str]] = [
        ({"a": datetime.date(2024, 1, 2)}, "dates"),
        ({"a": [[1]]}, "nested arrays"),
        ({"a": {}}, "empty tables"),
        ({"a": [{}]}, "empty inline"),
        ({"a": [{"b": [1]}]}, "nested arrays"),
        ({"a": [{"b": {"c": 1}}]}, "tables are not allowed"),
        ({"a": 2**63}, "64 bits"),
        ({"a": "x\x00"}, "NUL"),
        ({"a": "\ud800"}, "surrogate"),
        ({1: "x"}, "not a string"),
    ]
    for doc, needle in cases:
        with pytest.raises(canonical.DumpError, match=needle):
            canonical.dumps(doc)


def test_writer_layout_is_exact() -> None:
    doc = {
        "sgx": {"trusted_files": [{"uri": "file:/a", "sha256": "0" * 64}], "allowed_files": []},
        "loader": {"env": {"MY VAR": {"passthrough": True}, "Z": "\x01\x7f\t\"é"}},
        "libos": {"entrypoint": "/a"},
        "a-b": {"x": -5},
        "a": {"b": 1},
    }
    expected = (
        "# gsc canonical manifest v1\n"
        "a.b = 1\n"
        "a-b.x = -5\n"
        'libos.entrypoint = "/a"\n'
        'loader.env."MY VAR".passthrough = true\n'
        'loader.env.Z = "\\u0001\\u007F\\t\\"é"\n'
        "sgx.allowed_files = []\n"
        "sgx.trusted_files = [\n"
        f'  {{ sha256 = "{"0" * 64}", uri = "file:/a" }},\n'
        "]\n"
    ).encode()
    assert canonical.dumps(doc) == expected
    assert tomllib.loads(expected.decode()) == doc


def test_dumps_is_deterministic_regardless_of_insertion_order() -> None:
    a = {"x": {"b": 1, "a": 2}, "w": [{"z": 1, "y": 2}]}
    b = {"w": [{"y": 2, "z": 1}], "x": {"a": 2, "b": 1}}
    assert canonical.dumps(a) == canonical.dumps(b)


def _assert_same_as_loaded(raw: dict[str, Any], data: bytes) -> None:
    """render_loaded gives the bytes and exactly what load parses back from them: the same
    data, lists for arrays and every table's keys in the same order."""
    got, doc = schema.render_loaded(raw, "m")
    loaded = schema.load(data, "m")
    assert got == data
    assert doc == loaded
    assert _shape(doc) == _shape(loaded)


def _shape(value: Any) -> Any:
    """Key order and container types, which == on dicts does not compare."""
    if isinstance(value, dict):
        return [(k, _shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return ["list", *(_shape(v) for v in value)]
    return (type(value).__name__, value)


def test_render_loaded_equals_load_of_the_bytes() -> None:
    doc = {
        "sgx": {"trusted_files": [{"uri": "file:/b", "sha256": "1" * 64},
                                  {"sha256": "0" * 64, "uri": "file://a/./"}],
                "allowed_files": ["file:/tmp/", "file:/run"], "max_threads": 4,
                "debug": True},
        "loader": {"env": {"Z": "\x01\x7f\t\"é", "MY VAR": {"passthrough": True}, "A": "1"},
                   "argv": ["sh", "-c", "echo \"hi\"\n"]},
        "libos": {"entrypoint": "/bin/sh"},
        "fs": {"mounts": [{"type": "tmpfs", "path": "/run/x"}], "start_dir": "/"},
        "gsc": {"readonly_files": ["file:/input/"]},
    }
    _assert_same_as_loaded(doc, schema.render(doc, "m"))


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("plain/path with spaces", '"plain/path with spaces"'),
        ("é ü 日本", '"é ü 日本"'),
        ("", '""'),
        ('q"b\\', '"q\\"b\\\\"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x01\x1f\x7f", '"\\u0001\\u001F\\u007F"'),
        ("\x80\u2028", '"\x80\u2028"'),
    ],
)
def test_strings_are_written_exactly(text: str, written: str) -> None:
    assert canonical.dumps({"a": text}).decode() == f"{canonical.HEADER}\na = {written}\n"
    assert tomllib.loads(canonical.dumps({"a": text}).decode()) == {"a": text}


def test_string_limits_hold_on_the_plain_path() -> None:
    long = "x" * canonical.MAX_STRING
    assert canonical.dumps({"a": long}).endswith(f'"{long}"\n'.encode())
    for text in ("x" * (canonical.MAX_STRING + 1), "é" * (canonical.MAX_STRING // 2 + 1)):
        with pytest.raises(canonical.DumpError, match="longer than"):
            canonical.dumps({"a": text})
    with pytest.raises(canonical.DumpError, match="surrogate"):
        canonical.dumps({"a": "ok\udcff"})
