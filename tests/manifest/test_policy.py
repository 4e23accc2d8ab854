"""Path policy (runtime/core/policy.c) against an independent Python oracle."""

from __future__ import annotations

from typing import Any

import pytest
from gsc._native import ffi, lib
from hypothesis import given, settings
from hypothesis import strategies as st
from manifest_testlib import oracle_check, oracle_classify, oracle_normalise

from gsc.manifest import schema

DENIED, TRUSTED, ALLOWED, TRUSTED_DIR, ALLOWED_RO = 0, 1, 2, 3, 4


class Parsed:
    def __init__(self, trusted: list[str], allowed: list[str], tmpfs: list[str] = (),  # type: ignore[assignment]
                 symlinks: list[str] = (),  # type: ignore[assignment]
                 readonly: list[str] = ()) -> None:  # type: ignore[assignment]
        doc: dict[str, Any] = {
            "libos": {"entrypoint": "/bin/sh"},
            "gsc": {"symlinks": [{"path": p, "target": "t"} for p in symlinks],
                    "readonly_files": ["file:" + p for p in readonly]},
            "sgx": {
                "trusted_files": [{"uri": "file:" + p, "sha256": "00" * 32} for p in trusted],
                "allowed_files": ["file:" + p for p in allowed],
            },
        }
        if tmpfs:
            doc["fs"] = {"mounts": [{"path": p, "type": "tmpfs"} for p in tmpfs]}
        data = schema.render(doc, "policy")
        self.m = ffi.new("gsc_manifest *")
        err = ffi.new("char[256]")
        assert lib.gsc_manifest_parse(data, len(data), self.m, err, 256) == 0, ffi.string(err)

    def classify(self, path: str) -> int:
        out = ffi.new("gsc_trusted_file **")
        c = lib.gsc_policy_classify(self.m, path.encode(), out)
        if c == TRUSTED:
            assert ffi.string(out[0].path).decode() == path
        else:
            assert out[0] == ffi.NULL
        return int(c)

    def check(self) -> str | None:
        """None when the launch check passes, else its message."""
        err = ffi.new("char[2200]")
        if lib.gsc_policy_check(self.m, err, 2200) == 0:
            return None
        return ffi.string(err).decode()

    def __del__(self) -> None:
        lib.gsc_manifest_free(self.m)


def normalise(path: str, size: int = 4096) -> str | None:
    buf = ffi.new("char[]", size)
    if lib.gsc_path_normalise(path.encode(), buf, size) != 0:
        return None
    return ffi.string(buf).decode()


@pytest.fixture(scope="module")
def pol() -> Parsed:
    return Parsed(
        trusted=["/usr/bin/python3", "/usr/lib/x/libc.so", "/etc/passwd", "/app/data/model.bin",
                 "/etc/hostname"],
        allowed=["/app/data", "/dev/null", "/tmp", "/etc/resolv.conf"],
        tmpfs=["/run"],
        symlinks=["/lib64/ld.so", "/opt/x/y/link"],
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/usr/bin/python3", TRUSTED),
        ("/etc/passwd", TRUSTED),
        ("/app/data/model.bin", TRUSTED),  # trusted wins over an allowed directory
        ("/usr/bin/python", DENIED),
        ("/usr/bin/python3x", DENIED),
        ("/usr/bin/python3/x", DENIED),
        ("/usr", TRUSTED_DIR),
        ("/usr/bin", TRUSTED_DIR),
        ("/usr/lib/x", TRUSTED_DIR),
        ("/", TRUSTED_DIR),
        ("/us", DENIED),
        ("/usr/li", DENIED),
        ("/etc", TRUSTED_DIR),
        ("/etc/shadow", DENIED),
        ("/tmp", ALLOWED),
        ("/tmp/a/b/c", ALLOWED),
        ("/tmpx", DENIED),
        ("/tmp.x", DENIED),
        ("/tm", DENIED),
        ("/dev/null", ALLOWED),
        ("/dev/nullx", DENIED),
        ("/dev", DENIED),
        ("/run", ALLOWED),
        ("/run/lock/x", ALLOWED),
        ("/runx", DENIED),
        ("/app/data", ALLOWED),
        ("/app/data/other", ALLOWED),
        ("/app", TRUSTED_DIR),
        # Docker's per-container files: read-only, whatever the manifest says
        ("/etc/hostname", ALLOWED_RO),  # listed as trusted
        ("/etc/resolv.conf", ALLOWED_RO),  # listed as allowed
        ("/etc/hosts", ALLOWED_RO),  # not listed
        ("/etc/hosts.allow", DENIED),
        ("/etc/host", DENIED),
        # ancestors of pinned symlinks may be listed; the symlink itself is not a file
        ("/lib64", TRUSTED_DIR),
        ("/opt", TRUSTED_DIR),
        ("/opt/x/y", TRUSTED_DIR),
        ("/lib64/ld.so", DENIED),
        ("/opt/x/y/link/z", DENIED),
        # not normalised: refused outright (fail closed), the caller must normalise first
        ("/tmp/../etc/shadow", DENIED),
        ("/tmp/./x", DENIED),
        ("//tmp", DENIED),
        ("/tmp/", DENIED),
        ("tmp", DENIED),
        ("", DENIED),
    ],
)
def test_classify(pol: Parsed, path: str, expected: int) -> None:
    assert pol.classify(path) == expected


def test_dotdot_tricks_after_normalisation(pol: Parsed) -> None:
    assert normalise("/tmp/../etc/shadow") == "/etc/shadow"
    assert pol.classify(normalise("/tmp/../etc/shadow") or "") == DENIED
    assert normalise("/../../tmp/x") == "/tmp/x"
    assert normalise("/usr/bin/../bin/./python3") == "/usr/bin/python3"
    assert normalise("//usr///bin//") == "/usr/bin"
    assert normalise("relative/x") is None
    assert normalise("/" + "a" * 10, size=11) is None
    assert normalise("/" + "a" * 10, size=12) == "/" + "a" * 10
    # intermediate results must fit as well (fail closed)
    assert normalise("/a/..", size=2) is None
    assert normalise("/a/..", size=3) == "/"


def test_has_trusted_under(pol: Parsed) -> None:
    f = lambda p: lib.gsc_policy_has_trusted_under(pol.m, p.encode())  # noqa: E731
    assert f("/app/data") == 1  # allowed dir containing a trusted file
    assert f("/app/data/model.bin") == 1
    assert f("/tmp") == 0
    assert f("/") == 1
    assert f("/usr/bin/python") == 0
    assert f("not/normal") == 1  # fail closed
    assert f("/opt/x") == 1  # above a pinned symlink
    assert f("/lib64/ld.so") == 1  # a pinned symlink


def test_launch_check(pol: Parsed) -> None:
    assert pol.check() == ("trusted file /app/data/model.bin lies in the allowed path /app/data "
                           "(a writable place cannot hold trusted files)")
    assert Parsed(trusted=["/usr/bin/x"], allowed=["/tmp", "/usr/binx"]).check() is None
    assert "lies in the allowed path /" in (Parsed(trusted=["/a"], allowed=["/"]).check() or "")
    assert Parsed(trusted=["/a/b"], allowed=["/a/b"]).check() is not None
    assert "tmpfs mount /run" in (Parsed(trusted=["/run/x/y"], allowed=[], tmpfs=["/run"]).check()
                                  or "")
    assert "pinned symlink /tmp/l" in (Parsed(trusted=[], allowed=["/tmp"],
                                              symlinks=["/tmp/l"]).check() or "")
    # Docker's files are never trusted: an old manifest trusting /etc/hosts under an
    # allowed /etc is not refused for it
    assert Parsed(trusted=["/etc/hosts"], allowed=["/etc"]).check() is None


def test_empty_manifest_denies_everything() -> None:
    p = Parsed(trusted=[], allowed=[])
    for path in ("/", "/tmp", "/usr/bin/x"):
        assert p.classify(path) == DENIED


def test_allowed_root_allows_everything_but_trusted() -> None:
    p = Parsed(trusted=["/bin/sh"], allowed=["/"])
    assert p.classify("/bin/sh") == TRUSTED
    assert p.classify("/bin") == ALLOWED
    assert p.classify("/etc/shadow") == ALLOWED


SEG = st.sampled_from(["a", "b", "ab", "a.b", "a-", "é"])
NPATH = st.lists(st.one_of(SEG, st.sampled_from(["etc", "hosts"])), min_size=0,
                 max_size=4).map(lambda s: "/" + "/".join(s))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    st.lists(NPATH.filter(lambda p: p != "/"), max_size=6, unique=True),
    st.lists(NPATH, max_size=3, unique=True),
    st.lists(NPATH, max_size=2, unique=True),
    st.lists(NPATH, min_size=1, max_size=10),
    st.lists(NPATH.filter(lambda p: p != "/"), max_size=3, unique=True),
    st.lists(NPATH, max_size=2, unique=True),
)
def test_classify_matches_oracle(
    trusted: list[str], allowed: list[str], tmpfs: list[str], paths: list[str],
    symlinks: list[str], readonly: list[str],
) -> None:
    symlinks = [s for s in symlinks
                if s not in trusted and not any(t.startswith(s + "/") for t in trusted)]
    p = Parsed(trusted=trusted, allowed=allowed, tmpfs=tmpfs, symlinks=symlinks,
               readonly=readonly)
    for path in paths + trusted + allowed + symlinks + readonly:
        assert p.classify(path) == oracle_classify(path, trusted, allowed, tmpfs,
                                                   symlinks, readonly), path
    assert (p.check() is None) == oracle_check(trusted, allowed, tmpfs, symlinks, readonly)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["/", ".", "..", "a", "b", "é"]), max_size=20).map("".join))
def test_normalise_matches_oracle(path: str) -> None:
    assert normalise(path) == oracle_normalise(path)
    n = normalise(path)
    if n is not None:
        assert schema.is_normal_path(n)
        assert normalise(n) == n
