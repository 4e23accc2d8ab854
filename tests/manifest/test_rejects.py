"""Every class of deviation from the canonical form or the schema is refused by the Python
reader and by the strict C reader, with a line number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from manifest_testlib import c_parse

from gsc.errors import InputError
from gsc.manifest import canonical, schema

H = "# gsc canonical manifest v1\n"
SHA = "ab" * 32
GOOD = (
    H
    + 'libos.entrypoint = "/bin/sh"\n'
    + "loader.argv = [\n"
    + '  "sh",\n'
    + "]\n"
    + 'loader.env.HOME = "/root"\n'
    + "sgx.debug = false\n"
    + "sgx.max_threads = 8\n"
    + "sgx.trusted_files = [\n"
    + f'  {{ sha256 = "{SHA}", uri = "file:/bin/sh" }},\n'
    + "]\n"
).encode()


def _with(*lines: str) -> bytes:
    """H + libos.entrypoint + the given lines (each without newline), sorted by the caller."""
    return (H + "\n".join(lines) + "\n").encode()


EP = 'libos.entrypoint = "/bin/sh"'

BAD: dict[str, bytes] = {
    "crlf": GOOD.replace(b"\n", b"\r\n"),
    "crlf-one-line": GOOD.replace(b"false\n", b"false\r\n"),
    "tab": GOOD.replace(b"sgx.debug = false", b"sgx.debug =\tfalse"),
    "trailing-space": GOOD.replace(b"false\n", b"false \n"),
    "no-final-lf": GOOD[:-1],
    "two-final-lf": GOOD + b"\n",
    "blank-line": GOOD.replace(b"sgx.debug", b"\nsgx.debug"),
    "comment": GOOD.replace(b"sgx.debug", b"# hi\nsgx.debug"),
    "no-header": GOOD[len(H):],
    "other-header": GOOD.replace(b"v1", b"v2"),
    "bom": b"\xef\xbb\xbf" + GOOD,
    "unsorted-keys": _with('loader.env.HOME = "/root"', EP),
    "unsorted-segments": _with(EP, "sgx.max_threads = 8", "sgx.debug = false"),
    "duplicate-key": _with(EP, "sgx.debug = false", "sgx.debug = false"),
    "key-and-subkey": _with(EP, 'loader.env.A = "x"', 'loader.env.A.value = "x"'),
    "quoted-bare-key": _with(EP, 'loader.env."HOME" = "/root"'),
    "spaces-around-dot": _with(EP, 'loader .env.HOME = "/root"'),
    "no-spaces-eq": _with(EP, 'loader.env.HOME="/root"'),
    "bad-escape": _with(EP, 'loader.env.A = "\\x41"'),
    "escape-slash": _with(EP, 'loader.env.A = "\\/"'),
    "escape-non-control": _with(EP, 'loader.env.A = "\\u0041"'),
    "escape-lowercase-hex": _with(EP, 'loader.env.A = "\\u001f"'),
    "escape-long-for-short": _with(EP, 'loader.env.A = "\\u000A"'),
    "escape-big-u": _with(EP, 'loader.env.A = "\\U0000001F"'),
    "escape-nul": _with(EP, 'loader.env.A = "\\u0000"'),
    "raw-control": _with(EP, 'loader.env.A = "\x01"'),
    "raw-del": _with(EP, 'loader.env.A = "\x7f"'),
    "literal-string": _with(EP, "loader.env.A = 'x'"),
    "multiline-string": _with(EP, 'loader.env.A = """x"""'),
    "unterminated-string": _with(EP, 'loader.env.A = "x'),
    "nul-byte": _with(EP, 'loader.env.A = "x\x00"'),
    "bad-utf8": _with(EP) + b'loader.env.A = "\xff"\n',
    "overlong-utf8": _with(EP) + b'loader.env.A = "\xc0\xaf"\n',
    "surrogate-utf8": _with(EP) + b'loader.env.A = "\xed\xa0\x80"\n',
    "unknown-key": _with(EP, "sgx.frobnicate = true"),
    "unknown-top": _with(EP, "foo = 1"),
    "old-thread-num": _with(EP, "sgx.thread_num = 4"),
    "wrong-type-bool": _with(EP, "sgx.debug = 1"),
    "wrong-type-int": _with(EP, 'sgx.max_threads = "8"'),
    "wrong-type-array": _with(EP, "sgx.debug = []"),
    "wrong-type-scalar-for-array": _with(EP, 'sgx.allowed_files = "file:/tmp"'),
    "int-leading-zero": _with(EP, "sgx.max_threads = 08"),
    "int-plus": _with(EP, "sgx.max_threads = +8"),
    "int-underscore": _with(EP, "sgx.isvsvn = 1_0"),
    "int-hex": _with(EP, "sgx.isvsvn = 0x10"),
    "int-minus-zero": _with(EP, "sgx.profile.x = -0"),
    "int-overflow": _with(EP, "sgx.profile.x = 9223372036854775808"),
    "float": _with(EP, "sgx.profile.x = 1.5"),
    "float-exp": _with(EP, "sgx.profile.x = 1e5"),
    "datetime": _with(EP, "sgx.profile.x = 1979-05-27"),
    "bool-caps": _with(EP, "sgx.debug = True"),
    "max-threads-zero": _with(EP, "sgx.max_threads = 0"),
    "max-threads-big": _with(EP, "sgx.max_threads = 4097"),
    "isvsvn-big": _with(EP, "sgx.isvsvn = 65536"),
    "enclave-size-not-pow2": _with(EP, 'sgx.enclave_size = "3M"'),
    "enclave-size-suffix": _with(EP, 'sgx.enclave_size = "256MB"'),
    "enclave-size-lower": _with(EP, 'sgx.enclave_size = "256m"'),
    "log-level": _with(EP, 'loader.log_level = "all"'),
    "file-check-policy": _with(EP, 'sgx.file_check_policy = "lax"'),
    "cpu-feature-value": _with(EP, 'sgx.cpu_features.mpx = "unspecified"'),
    "cpu-feature-name": _with(EP, 'sgx.cpu_features.sse = "required"'),
    "bad-sha-upper": _with(EP, "sgx.trusted_files = [",
                           f'  {{ sha256 = "{SHA.upper()}", uri = "file:/bin/sh" }},', "]"),
    "bad-sha-short": _with(EP, "sgx.trusted_files = [",
                           f'  {{ sha256 = "{SHA[:-1]}", uri = "file:/bin/sh" }},', "]"),
    "trusted-missing-sha": _with(EP, "sgx.trusted_files = [", '  { uri = "file:/bin/sh" },', "]"),
    "trusted-extra-key": _with(EP, "sgx.trusted_files = [",
                               f'  {{ sha256 = "{SHA}", size = 1, uri = "file:/bin/sh" }},', "]"),
    "trusted-string": _with(EP, "sgx.trusted_files = [", '  "file:/bin/sh",', "]"),
    "trusted-unsorted-table": _with(EP, "sgx.trusted_files = [",
                                    f'  {{ uri = "file:/bin/sh", sha256 = "{SHA}" }},', "]"),
    "trusted-relative": _with(EP, "sgx.trusted_files = [",
                              f'  {{ sha256 = "{SHA}", uri = "file:bin/sh" }},', "]"),
    "trusted-dotdot": _with(EP, "sgx.trusted_files = [",
                            f'  {{ sha256 = "{SHA}", uri = "file:/bin/../sh" }},', "]"),
    "trusted-dot": _with(EP, "sgx.trusted_files = [",
                         f'  {{ sha256 = "{SHA}", uri = "file:/bin/./sh" }},', "]"),
    "trusted-double-slash": _with(EP, "sgx.trusted_files = [",
                                  f'  {{ sha256 = "{SHA}", uri = "file://bin/sh" }},', "]"),
    "trusted-trailing-slash": _with(EP, "sgx.trusted_files = [",
                                    f'  {{ sha256 = "{SHA}", uri = "file:/bin/" }},', "]"),
    "trusted-not-file-uri": _with(EP, "sgx.trusted_files = [",
                                  f'  {{ sha256 = "{SHA}", uri = "dev:/bin/sh" }},', "]"),
    "trusted-duplicate": _with(EP, "sgx.trusted_files = [",
                               f'  {{ sha256 = "{SHA}", uri = "file:/a" }},',
                               f'  {{ sha256 = "{SHA}", uri = "file:/a" }},', "]"),
    "trusted-unsorted": _with(EP, "sgx.trusted_files = [",
                              f'  {{ sha256 = "{SHA}", uri = "file:/b" }},',
                              f'  {{ sha256 = "{SHA}", uri = "file:/a" }},', "]"),
    "allowed-unsorted": _with(EP, "sgx.allowed_files = [", '  "file:/tmp",', '  "file:/run",', "]"),
    "allowed-relative": _with(EP, "sgx.allowed_files = [", '  "file:tmp",', "]"),
    "entrypoint-relative": _with('libos.entrypoint = "bin/sh"'),
    "start-dir-dotdot": _with(EP, 'fs.start_dir = "/a/.."'),
    "missing-entrypoint": _with("sgx.debug = true"),
    "empty-argv": _with(EP, "loader.argv = []"),
    "array-single-line": _with(EP, 'loader.argv = [ "sh" ]'),
    "array-empty-multiline": _with(EP, "loader.argv = [", "]"),
    "array-empty-spaced": _with(EP, "sgx.allowed_files = [ ]"),
    "array-no-trailing-comma": _with(EP, "loader.argv = [", '  "sh"', "]"),
    "array-indent-4": _with(EP, "loader.argv = [", '    "sh",', "]"),
    "array-unterminated": _with(EP, "loader.argv = [", '  "sh",'),
    "array-nested": _with(EP, "sgx.profile.x = [", "  [1],", "]"),
    "inline-table-top": _with(EP, "loader.env.A = { passthrough = true }"),
    "inline-table-spacing": _with(EP, "fs.mounts = [", '  {path = "/run", type = "tmpfs"},', "]"),
    "inline-table-empty": _with(EP, "sgx.profile.x = [", "  {},", "]"),
    "inline-table-dotted": _with(EP, "sgx.profile.x = [", "  { a.b = 1 },", "]"),
    "table-header": _with("[libos]", 'entrypoint = "/bin/sh"'),
    "argv-and-cmdline": _with(EP, "loader.argv = [", '  "sh",', "]",
                              "loader.insecure__use_cmdline_argv = true"),
    "argv-src-untrusted": _with(EP, 'loader.argv_src_file = "file:/args"'),
    "env-passthrough-false": _with(EP, "loader.env.A.passthrough = false"),
    "env-both": _with(EP, "loader.env.A.passthrough = true", 'loader.env.A.value = "x"'),
    "env-other-field": _with(EP, 'loader.env.A.other = "x"'),
    "env-equals-name": _with(EP, 'loader.env."A=B" = "x"'),
    "env-empty-name": _with(EP, 'loader.env."" = "x"'),
    "mount-encrypted": _with(EP, "fs.mounts = [",
                             '  { path = "/d", type = "encrypted", uri = "file:/d" },', "]"),
    "mount-unknown-type": _with(EP, "fs.mounts = [", '  { path = "/d", type = "proc" },', "]"),
    "mount-not-identity": _with(EP, "fs.mounts = [", '  { path = "/d", uri = "file:/e" },', "]"),
    "mount-tmpfs-uri": _with(EP, "fs.mounts = [",
                             '  { path = "/d", type = "tmpfs", uri = "file:/d" },', "]"),
    "mount-twice": _with(EP, "fs.mounts = [", '  { path = "/d", type = "tmpfs" },',
                         '  { path = "/d", uri = "file:/d" },', "]"),
    "string-too-long": _with(EP, 'loader.env.A = "' + "x" * 65537 + '"'),
    "path-too-long": _with('libos.entrypoint = "/' + "a" * 4095 + '"'),
    "too-many-segments": _with(EP, "sys." + ".".join("a" * 40) + " = 1"),
    "dotted-segment-ignored-prefix": _with(EP, 'sgx."profile.x" = 1'),
    "dotted-segment-env": _with('"loader.env".A = "x"', EP),
    "dotted-segment-honoured": _with(EP, '"sgx.debug" = true'),
    "garbage-after-value": _with(EP, "sgx.debug = false false"),
    "comment-after-value": _with(EP, "sgx.debug = false # no"),
    "symlinks-string": _with("gsc.symlinks = [", '  "/etc/x",', "]", EP),
    "symlinks-not-array": _with('gsc.symlinks = "/etc/x"', EP),
    "symlink-missing-target": _with("gsc.symlinks = [", '  { path = "/a" },', "]", EP),
    "symlink-extra-key": _with("gsc.symlinks = [",
                               '  { kind = "x", path = "/a", target = "b" },', "]", EP),
    "symlink-relative-path": _with("gsc.symlinks = [", '  { path = "a", target = "b" },', "]", EP),
    "symlink-dotdot-path": _with("gsc.symlinks = [",
                                 '  { path = "/a/../b", target = "b" },', "]", EP),
    "symlink-root": _with("gsc.symlinks = [", '  { path = "/", target = "b" },', "]", EP),
    "symlink-empty-target": _with("gsc.symlinks = [", '  { path = "/a", target = "" },', "]", EP),
    "symlink-long-target": _with("gsc.symlinks = [",
                                 '  { path = "/a", target = "' + "t" * 4096 + '" },', "]", EP),
    "symlink-int-target": _with("gsc.symlinks = [", '  { path = "/a", target = 1 },', "]", EP),
    "symlinks-unsorted": _with("gsc.symlinks = [", '  { path = "/b", target = "x" },',
                               '  { path = "/a", target = "x" },', "]", EP),
    "symlinks-duplicate": _with("gsc.symlinks = [", '  { path = "/a", target = "x" },',
                                '  { path = "/a", target = "y" },', "]", EP),
    "symlink-is-trusted": _with("gsc.symlinks = [", '  { path = "/bin/sh", target = "x" },',
                                "]", EP, "sgx.trusted_files = [",
                                f'  {{ sha256 = "{SHA}", uri = "file:/bin/sh" }},', "]"),
    "symlink-above-trusted": _with("gsc.symlinks = [", '  { path = "/bin", target = "x" },',
                                   "]", EP, "sgx.trusted_files = [",
                                   f'  {{ sha256 = "{SHA}", uri = "file:/bin/sh" }},', "]"),
    "container-config-table": _with("gsc.container_config.a = 1", EP),
    "container-config-bool": _with("gsc.container_config = true", EP),
    "no-landlock-string": _with('gsc.insecure__allow_no_landlock = "yes"', EP),
    "gsc-unknown": _with("gsc.frobnicate = true", EP),
    "executables-string": _with('gsc.executables = "file:/bin/sh"', EP),
    "executables-table": _with("gsc.executables = [", '  { uri = "file:/bin/sh" },', "]", EP),
    "executables-no-scheme": _with("gsc.executables = [", '  "/bin/sh",', "]", EP),
    "executables-not-trusted": _with("gsc.executables = [", '  "file:/bin/ls",', "]", EP,
                                     "sgx.trusted_files = [",
                                     f'  {{ sha256 = "{SHA}", uri = "file:/bin/sh" }},', "]"),
    "executables-unsorted": _with("gsc.executables = [", '  "file:/bin/sh",',
                                  '  "file:/bin/ls",', "]", EP, "sgx.trusted_files = [",
                                  f'  {{ sha256 = "{SHA}", uri = "file:/bin/ls" }},',
                                  f'  {{ sha256 = "{SHA}", uri = "file:/bin/sh" }},', "]"),
    "executables-duplicate": _with("gsc.executables = [", '  "file:/bin/sh",',
                                   '  "file:/bin/sh",', "]", EP, "sgx.trusted_files = [",
                                   f'  {{ sha256 = "{SHA}", uri = "file:/bin/sh" }},', "]"),
}


def test_good_base_is_accepted() -> None:
    view, err = c_parse(GOOD)
    assert err == ""
    assert view is not None and view["argv"] == ["sh"]
    schema.load(GOOD, "good")
    # and the cases built with _with() really are one deviation away from valid input
    view, err = c_parse(_with(EP, "sgx.debug = false", "sgx.max_threads = 8"))
    assert err == "", err


@pytest.mark.parametrize("name", sorted(BAD))
def test_refused_by_both(name: str) -> None:
    data = BAD[name]
    view, err = c_parse(data)
    assert view is None, f"C accepted {name}"
    assert re.match(r"line [0-9]+: \S", err), err
    with pytest.raises(InputError) as exc:
        schema.load(data, "case.toml")
    assert exc.value.message.startswith("case.toml: "), exc.value.message
    # format errors name the line; schema errors (on canonical input) name the key
    if not canonical.is_canonical(data):
        assert re.match(r"case\.toml: (line [0-9]+: )?\S", exc.value.message)


def test_gsc_keys_are_read_by_both() -> None:
    data = _with(
        'gsc.container_config = "{\\"Cmd\\":[\\"sh\\"]}"',
        "gsc.insecure__allow_no_landlock = true",
        "gsc.symlinks = [",
        '  { path = "/bin", target = "usr/bin" },',
        '  { path = "/bin-x", target = "/tmp/\\"odd\\" target" },',
        '  { path = "/usr/bin/python3", target = "python3.11" },',
        "]",
        EP.replace("/bin/sh", "/usr/bin/sh"),
        "sgx.trusted_files = [",
        f'  {{ sha256 = "{SHA}", uri = "file:/bin-y/sh" }},',
        f'  {{ sha256 = "{SHA}", uri = "file:/bin0/sh" }},',
        f'  {{ sha256 = "{SHA}", uri = "file:/usr/bin/python3.11" }},',
        "]",
    )
    view, err = c_parse(data)
    assert err == "" and view is not None, err
    assert view["symlinks"] == [("/bin", "usr/bin"), ("/bin-x", '/tmp/"odd" target'),
                                ("/usr/bin/python3", "python3.11")]
    assert view["allow_no_landlock"] is True and view["has_container_config"] is True
    doc = schema.load(data, "m")
    assert doc["gsc"]["container_config"] == '{"Cmd":["sh"]}'
    assert doc["gsc"]["symlinks"][0] == {"path": "/bin", "target": "usr/bin"}
    # the default: no pins, Landlock required
    view, err = c_parse(GOOD)
    assert view is not None and view["symlinks"] == [] and view["allow_no_landlock"] is False


def test_symlink_clash_names_the_path() -> None:
    _, err = c_parse(BAD["symlink-above-trusted"])
    assert err == "line 2: gsc.symlinks: /bin is a trusted file or above one", err
    with pytest.raises(InputError, match=r"^m: gsc.symlinks\[0\].path: '/bin' is a trusted"):
        schema.load(BAD["symlink-above-trusted"], "m")


def test_canonicalise_sorts_symlinks() -> None:
    doc = {"libos": {"entrypoint": "/bin/sh"},
           "gsc": {"symlinks": [{"path": "/z", "target": "a"}, {"path": "/a", "target": "z"},
                                {"path": "/z", "target": "a"}]}}
    data = schema.render(doc, "m")
    assert data.index(b'"/a"') < data.index(b'"/z"') and data.count(b'"/z"') == 1
    view, err = c_parse(data)
    assert view is not None and view["symlinks"] == [("/a", "z"), ("/z", "a")], err


def test_python_messages_name_line_and_key() -> None:
    with pytest.raises(InputError, match=r"^m: line 3: trailing space$"):
        canonical.loads(GOOD.replace(b"\n", b" \n", 3).replace(b" \n", b"\n", 2), "m")
    with pytest.raises(InputError, match=r"^m: sgx.frobnicate: unknown key$"):
        schema.load(BAD["unknown-key"], "m")
    with pytest.raises(InputError, match=r"^m: sgx.max_threads: must be between 1 and 4096$"):
        schema.load(BAD["max-threads-zero"], "m")
    with pytest.raises(InputError, match=r"^m: line 2: "):
        canonical.loads(BAD["unsorted-keys"], "m")


def test_c_messages_name_line() -> None:
    _, err = c_parse(BAD["unknown-key"])
    assert err == 'line 3: unknown key "sgx.frobnicate"'
    _, err = c_parse(BAD["unsorted-keys"])
    assert err.startswith("line 3: keys are not sorted")


def test_size_limit() -> None:
    big = _with(EP) + b"sys.x = [\n" + b'  "' + b"y" * 60000 + b'",\n' * 1 + b"]\n"
    assert c_parse(big)[0] is not None
    huge = b"x" * (64 * 1024 * 1024 + 1)
    assert c_parse(huge)[1].startswith("line 1: manifest larger")
    with pytest.raises(InputError, match="larger"):
        canonical.loads(huge, "m")


def test_dotted_segments_inside_ignored_subtrees_are_accepted_by_both() -> None:
    data = _with(EP, 'loader.env."A.B" = "x"', 'sys."a.b" = 1')
    view, err = c_parse(data)
    assert err == "" and view is not None and view["env"] == [("A.B", "x", False)]
    assert schema.load(data, "m")["loader"]["env"] == {"A.B": "x"}


def test_ignored_lists_agree(repo: Path) -> None:
    source = (repo / "runtime" / "core" / "manifest.c").read_text()
    block = source.split("static const char *const IGNORED[] = {", 1)[1].split("};", 1)[0]
    assert tuple(re.findall(r'"([^"]+)"', block)) == schema.IGNORED


def test_deep_nesting_is_an_input_error() -> None:
    deep = _with(EP) + b"sys.x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    with pytest.raises(InputError):
        schema.load(deep, "m")
    assert c_parse(deep)[0] is None
    dotted = _with(EP) + b"sys." + b".".join([b"a"] * 5000) + b" = 1\n"
    with pytest.raises(InputError):
        schema.load(dotted, "m")
    assert c_parse(dotted)[1].startswith("line 3: more than 32 key segments")


def test_executables_read_by_both() -> None:
    """gsc.executables (written by gsc build): sorted file: URIs of trusted files; an empty
    array is present (has_executables), an absent key is an older build's manifest."""
    doc = {"libos": {"entrypoint": "/bin/sh"},
           "gsc": {"executables": ["file:/usr/bin/python3.11", "file:/bin/sh",
                                   "file:/bin/sh"]},
           "sgx": {"trusted_files": [
               {"uri": "file:" + p, "sha256": SHA}
               for p in ("/bin/sh", "/usr/bin/python3.11", "/usr/lib/x.so")]}}
    data = schema.render(doc, "m")
    assert b'gsc.executables = [\n  "file:/bin/sh",\n  "file:/usr/bin/python3.11",\n]\n' in data
    view, err = c_parse(data)
    assert view is not None, err
    assert view["executables"] == ["/bin/sh", "/usr/bin/python3.11"]
    assert view["has_executables"] is True
    assert schema.load(data, "m")["gsc"]["executables"] == [
        "file:/bin/sh", "file:/usr/bin/python3.11"]
    view, err = c_parse(_with(EP, "gsc.executables = []".replace(EP, "")).replace(
        b'libos.entrypoint = "/bin/sh"\ngsc.executables = []\n',
        b'gsc.executables = []\nlibos.entrypoint = "/bin/sh"\n'))
    assert view is not None and view["has_executables"] is True and view["executables"] == []
    view, err = c_parse(GOOD)
    assert view is not None and view["has_executables"] is False


def test_executable_not_trusted_names_the_path() -> None:
    _, err = c_parse(BAD["executables-not-trusted"])
    assert err == "line 2: gsc.executables: /bin/ls is not listed in sgx.trusted_files", err
    with pytest.raises(InputError, match=r"^m: gsc.executables\[0\]: '/bin/ls' is not listed"):
        schema.load(BAD["executables-not-trusted"], "m")
