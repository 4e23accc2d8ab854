"""The namespace pin (gsc/shield/namespace.py) on in-memory image trees, and its rule
cross-checked against the C core the runtime uses (runtime/core/policy.c)."""

from __future__ import annotations

from typing import Any

import pytest
from gsc._native import ffi, lib
from hypothesis import given, settings
from hypothesis import strategies as st

from gsc.errors import InputError
from gsc.image.fs import ImageFS
from gsc.image.model import FileEntry
from gsc.manifest import schema
from gsc.shield import namespace

TRUSTED_DIR = 3


def tree(files: list[str], links: dict[str, str], dirs: list[str] = ()) -> ImageFS:  # type: ignore[assignment]
    entries: dict[str, FileEntry] = {"/": FileEntry("/", "dir", 0o755, 0, 0)}

    def mkdirs(path: str) -> None:
        for d in namespace.ancestors(path):
            entries.setdefault(d, FileEntry(d, "dir", 0o755, 0, 0))

    for d in dirs:
        mkdirs(d + "/x")
    for f in files:
        mkdirs(f)
        entries[f] = FileEntry(f, "file", 0o644, 0, 0, sha256="00" * 32)
    for p, t in links.items():
        mkdirs(p)
        entries[p] = FileEntry(p, "symlink", 0o777, 0, 0, target=t)
    return ImageFS(entries, None)


def rules(trusted: list[str], allowed: list[str] = (), tmpfs: list[str] = (),  # type: ignore[assignment]
          links: dict[str, str] | None = None) -> namespace.Rules:
    return namespace.Rules(tuple(trusted), tuple(allowed), tuple(tmpfs),
                           tuple(sorted((links or {}).items())))


DEBIAN_LIKE = tree(
    ["/usr/bin/python3", "/etc/passwd", "/var/lib/x", "/opt/app/main"],
    {"/bin": "usr/bin", "/lib64": "usr/lib64", "/etc/os-release": "../usr/lib/os-release",
     "/etc/hosts": "/elsewhere", "/var/run": "/run", "/opt/other/l": "x",
     "/usr/bin/python": "python3"},
)


def test_pins_every_symlink_in_a_trusted_directory() -> None:
    pin = namespace.pin(DEBIAN_LIKE, rules(["/usr/bin/python3", "/etc/passwd", "/opt/app/main"]))
    assert dict(pin.symlinks) == {
        "/bin": "usr/bin", "/lib64": "usr/lib64", "/etc/os-release": "../usr/lib/os-release",
        "/usr/bin/python": "python3",
        "/etc/mtab": "/proc/mounts",      # Docker's init layer adds it: the runtime sees it
    }
    # /var and /opt/other are not trusted directories; /etc/hosts is Docker's own file
    assert [p for p, _ in pin.symlinks] == sorted(p for p, _ in pin.symlinks)


def test_an_image_mtab_wins_over_dockers() -> None:
    fs = tree(["/etc/passwd"], {"/etc/mtab": "../proc/self/mounts"})
    assert dict(namespace.pin(fs, rules(["/etc/passwd"])).symlinks) == {
        "/etc/mtab": "../proc/self/mounts"}


def test_an_allowed_path_that_is_a_pinned_symlink_is_dropped_from_allowed() -> None:
    pin = namespace.pin(DEBIAN_LIKE, rules(["/etc/passwd"], allowed=["/etc/mtab", "/tmp"]))
    assert pin.dropped_allowed == ("/etc/mtab",)


def test_a_symlink_below_an_allowed_path_or_in_a_tmpfs_mount_is_an_error() -> None:
    with pytest.raises(InputError, match="lies in the allowed path '/usr'"):
        namespace.pin(DEBIAN_LIKE, rules(["/usr/bin/python3"], allowed=["/usr"]))
    with pytest.raises(InputError, match="tmpfs mount '/lib64'"):
        namespace.pin(DEBIAN_LIKE, rules(["/usr/bin/python3"], tmpfs=["/lib64"]))


def test_a_name_or_target_that_is_not_utf8_is_an_error() -> None:
    bad = b"/etc/\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(InputError, match=r"its name is not valid UTF-8.*rename or remove"):
        namespace.pin(tree(["/etc/passwd"], {bad: "x"}), rules(["/etc/passwd"]))
    target = b"\xfe".decode("utf-8", "surrogateescape")
    with pytest.raises(InputError, match="its target is not valid UTF-8"):
        namespace.pin(tree(["/etc/passwd"], {"/etc/l": target}), rules(["/etc/passwd"]))
    # outside trusted directories it does not matter
    namespace.pin(tree(["/etc/passwd"], {"/srv/" + bad[5:]: target}), rules(["/etc/passwd"]))


def test_a_trusted_path_through_a_symlink_is_an_error() -> None:
    with pytest.raises(InputError, match="refused at launch: trusted directory /bin is a "
                                         "symlink"):
        namespace.pin(DEBIAN_LIKE, rules(["/bin/python3"]))


def test_check_reports_each_kind_of_difference() -> None:
    r = rules(["/usr/bin/python3", "/etc/passwd"],
              links={"/bin": "usr/bin", "/etc/mtab": "/proc/mounts", "/etc/gone": "x"})
    fs = tree(["/usr/bin/python3", "/etc/passwd"],
              {"/bin": "usr/sbin", "/etc/ld.so.preload": "/tmp/x", "/etc/hostname": "/x"})
    assert namespace.check(fs, r) == [
        "/etc/ld.so.preload is a symlink the manifest does not pin",
        "pinned symlink /etc/gone is missing",
        "symlink /bin points to 'usr/sbin', the manifest pins 'usr/bin'",
    ]
    # a trusted directory replaced by a symlink (or a file): its content is not listed
    moved = tree(["/usr/lib/x", "/etc/passwd"], {"/usr/bin": "/tmp/evil"})
    assert namespace.check(moved, r) == [
        "/usr/bin is a symlink the manifest does not pin",
        "pinned symlink /bin is missing", "pinned symlink /etc/gone is missing",
        "trusted directory /usr/bin is a symlink",
    ]


def test_check_accepts_what_pin_recorded() -> None:
    r = rules(["/usr/bin/python3", "/etc/passwd", "/opt/app/main"])
    pin = namespace.pin(DEBIAN_LIKE, r)
    assert namespace.check(DEBIAN_LIKE, rules(list(r.trusted), links=dict(pin.symlinks))) == []


# -- the rule against the C core ------------------------------------------------------

def c_manifest(trusted: list[str], links: list[tuple[str, str]]) -> Any:
    doc: dict[str, Any] = {
        "libos": {"entrypoint": "/e"},
        "sgx": {"trusted_files": [{"uri": "file:" + p, "sha256": "00" * 32} for p in trusted]},
        "gsc": {"symlinks": [{"path": p, "target": t} for p, t in links]},
    }
    data = schema.render(doc, "test")
    m = ffi.new("gsc_manifest *")
    err = ffi.new("char[256]")
    assert lib.gsc_manifest_parse(data, len(data), m, err, 256) == 0, ffi.string(err)
    return m


SEG = st.sampled_from(["a", "b", "c", "etc", "usr"])
PATHS = st.lists(SEG, min_size=1, max_size=4).map(lambda s: "/" + "/".join(s))


@settings(max_examples=150, deadline=None)
@given(files=st.lists(PATHS, min_size=1, max_size=6), links=st.lists(PATHS, max_size=8))
def test_pinned_exactly_the_symlinks_whose_parent_the_c_core_calls_a_trusted_dir(
        files: list[str], links: list[str]) -> None:
    # a tree where files and links do not collide (a link never on the way to a file)
    above = {a for f in files for a in namespace.ancestors(f)}
    files = [f for f in dict.fromkeys(files) if f not in above]
    taken = {a for f in files for a in namespace.ancestors(f)} | set(files)
    links = [p for p in dict.fromkeys(links) if p not in taken
             and not any(a in links for a in namespace.ancestors(p))]
    if not files:
        return
    fs = tree(files, {p: "t" for p in links})
    pin = namespace.pin(fs, rules(files))
    pinned = dict(pin.symlinks)
    m = c_manifest(files, sorted(pinned.items(), key=lambda t: t[0].encode()))
    try:
        for p in links:
            parent = p.rsplit("/", 1)[0] or "/"
            is_dir = lib.gsc_policy_classify(m, parent.encode(), ffi.NULL) == TRUSTED_DIR
            assert (p in pinned) == is_dir, (p, parent)
        err = ffi.new("char[512]")
        assert lib.gsc_policy_check(m, err, 512) == 0
    finally:
        lib.gsc_manifest_free(m)
