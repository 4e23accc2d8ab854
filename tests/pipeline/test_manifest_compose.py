"""The base manifest (data), TOML quoting and user-manifest merging (no Docker needed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsc.errors import InputError
from gsc.manifest import schema
from gsc.manifest.merge import merge
from gsc.manifest.render import (
    find_key_line,
    render_user_manifest,
    toml_key,
    toml_value,
)
from gsc.shield.base_manifest import base_manifest
from gsc.shield.trusted import TrustedFile

scalars = st.one_of(
    st.text(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans()
)


@given(st.lists(scalars, max_size=5) | scalars)
def test_toml_value_round_trips_through_tomllib(value: object) -> None:
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


@given(st.text(min_size=1))
def test_toml_key_round_trips(key: str) -> None:
    assert tomllib.loads(f"{toml_key(key)} = 1") == {key: 1}


def _context(**over: object) -> dict[str, object]:
    ctx: dict[str, object] = {
        "gsc_version": "0",
        "image_ref": "img",
        "entrypoint": "/usr/bin/python3.11",
        "argv": ["python3", "/app/a b.py", 'quote"d', "new\nline"],
        "env": {"PATH": "/usr/bin:/bin", "WEIRD NAME": "x\ty"},
        "env_passthrough": ["TZ"],
        "workdir": "/app",
        "user": "1000",
        "insecure_args": False,
        "log_level": "error",
        "debug": False,
        "enclave_size": "256M",
        "max_threads": 4,
        "isvprodid": 1,
        "isvsvn": 2,
        "allowed_files": ["/tmp/", "/dev/null"],
        "trusted_files": [TrustedFile("/bin/é x", "ab" * 32)],
    }
    ctx.update(over)
    return ctx


def test_base_manifest_holds_what_analysis_found() -> None:
    doc = base_manifest(_context())
    assert tomllib.loads(schema.render(doc, "base").decode()) == schema.canonicalise(doc)
    assert doc["libos"]["entrypoint"] == "/usr/bin/python3.11"
    assert doc["loader"]["argv"] == ["python3", "/app/a b.py", 'quote"d', "new\nline"]
    assert "insecure__use_cmdline_argv" not in doc["loader"]
    assert doc["loader"]["env"] == {
        "PATH": "/usr/bin:/bin", "WEIRD NAME": "x\ty", "TZ": {"passthrough": True}
    }
    assert doc["fs"]["start_dir"] == "/app"
    assert doc["sgx"]["trusted_files"] == [{"uri": "file:/bin/é x", "sha256": "ab" * 32}]
    assert doc["sgx"]["allowed_files"] == ["file:/tmp/", "file:/dev/null"]
    assert (doc["sgx"]["isvprodid"], doc["sgx"]["isvsvn"]) == (1, 2)


def test_base_manifest_insecure_args_replaces_argv() -> None:
    doc = base_manifest(_context(insecure_args=True))
    assert doc["loader"]["insecure__use_cmdline_argv"] is True
    assert "argv" not in doc["loader"]


def test_merge_user_wins_arrays_concatenate_and_overrides_are_reported() -> None:
    base = {
        "loader": {"log_level": "error", "env": {"A": "1"}},
        "sgx": {
            "allowed_files": ["file:/tmp/"],
            "trusted_files": [{"uri": "file:/a", "sha256": "00" * 32}],
            "max_threads": 4,
        },
    }
    user = {
        "loader": {"log_level": "debug", "env": {"B": "2"}},
        "sgx": {
            "allowed_files": ["file:/tmp/", "file:/data/"],
            "trusted_files": [{"uri": "file:/a", "sha256": "11" * 32},
                              {"uri": "file:/b", "sha256": "22" * 32}],
            "max_threads": 4,
        },
    }
    merged, overrides = merge(base, user)
    assert merged["loader"] == {"log_level": "debug", "env": {"A": "1", "B": "2"}}
    assert merged["sgx"]["allowed_files"] == ["file:/tmp/", "file:/data/"]
    assert merged["sgx"]["trusted_files"] == [
        {"uri": "file:/a", "sha256": "11" * 32}, {"uri": "file:/b", "sha256": "22" * 32}
    ]
    keys = sorted(o.key for o in overrides)
    assert keys == ["loader.log_level", "sgx.trusted_files[uri=file:/a]"]
    assert base["loader"]["log_level"] == "error"  # inputs untouched


def test_user_manifest_may_use_jinja(tmp_path: Path) -> None:
    m = tmp_path / "m.toml"
    m.write_text('[loader]\nargv = ["{{ entrypoint }}", "--flag"]\n')
    _text, doc = render_user_manifest(m, _context())
    assert doc == {"loader": {"argv": ["/usr/bin/python3.11", "--flag"]}}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[loader\n", "invalid TOML"),
        ("x = {{ nope }}\n", "template error"),
        ("x = {% if %}\n", "template error"),
        (b"\xff\xfe".decode("latin-1"), "invalid TOML"),
    ],
)
def test_bad_user_manifest_is_a_clear_input_error(
    tmp_path: Path, content: str, needle: str
) -> None:
    m = tmp_path / "m.toml"
    m.write_text(content)
    with pytest.raises(InputError, match=needle):
        render_user_manifest(m, _context())


def test_missing_user_manifest(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read manifest"):
        render_user_manifest(tmp_path / "absent.toml", _context())


def test_find_key_line() -> None:
    text = "# c\n[loader]\nlog_level = 'x'\n\n[sgx]\nmax_threads = 0\n"
    assert find_key_line(text, "sgx.max_threads") == 6
    assert find_key_line(text, "loader.log_level") == 3
    assert find_key_line(text, "fs.start_dir") is None


def test_executables_are_the_trusted_files_with_an_x_bit() -> None:
    from gsc.image.fs import ImageFS
    from gsc.image.model import FileEntry
    from gsc.shield.plan import executables

    entries = {
        "/": FileEntry("/", "dir", 0o755, 0, 0),
        "/bin": FileEntry("/bin", "dir", 0o755, 0, 0),
        "/bin/sh": FileEntry("/bin/sh", "file", 0o755, 0, 0, sha256="00" * 32),
        "/bin/x": FileEntry("/bin/x", "file", 0o100, 0, 0, sha256="00" * 32),
        "/bin/data": FileEntry("/bin/data", "file", 0o644, 0, 0, sha256="00" * 32),
        "/bin/untrusted": FileEntry("/bin/untrusted", "file", 0o755, 0, 0, sha256="00" * 32),
        "/bin/link": FileEntry("/bin/link", "symlink", 0o777, 0, 0, target="sh"),
    }
    doc = {"sgx": {"trusted_files": [{"uri": "file:" + p, "sha256": "00" * 32}
                                     for p in ("/bin/x", "/bin/sh", "/bin/data", "/bin/link",
                                               "/bin/absent")]}}
    assert executables(doc, ImageFS(entries, None)) == ["file:/bin/sh", "file:/bin/x"]
