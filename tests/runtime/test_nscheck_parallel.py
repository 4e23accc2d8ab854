"""The namespace check with its helper threads (runtime/src/nscheck.c: more than 32 trusted
directories, listed by three threads, a directory opened as soon as its parent is). The
refusals of docs/runtime.md section 3b must hold whichever thread meets them, and a launch
with several refusals names the first failing directory in sorted order, as a walk by one
thread does. The runtime runs on the host; "the image" is the test's directory tree."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from rt_bundle import MakeBundle, assert_refused

NDIRS = 48  # d00 .. d47, each with a subdirectory: ~100 trusted directories


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """img/dNN/sub/f.txt for NN < NDIRS, and a pinned symlink img/dNN/sub/f.link."""
    root = tmp_path / "img"
    for i in range(NDIRS):
        sub = root / f"d{i:02d}" / "sub"
        sub.mkdir(parents=True)
        (sub / "f.txt").write_text(f"{i}\n")
        os.symlink("f.txt", sub / "f.link")
    return root


def _trusted(root: Path) -> list[str]:
    return [str(root / f"d{i:02d}" / "sub" / "f.txt") for i in range(NDIRS)]


def test_wide_tree_launches_and_counts_every_directory(make_bundle: MakeBundle,
                                                       wide: Path) -> None:
    b = make_bundle(f"cat {wide}/d00/sub/f.link {wide}/d47/sub/f.txt", trusted=_trusted(wide),
                    log_level="debug")
    res = b.run()
    assert res.returncode == 0 and res.stdout == "0\n47\n", res.stderr
    m = re.search(r"namespace check: (\d+) trusted directories, (\d+) pinned symlinks",
                  res.stderr)
    assert m, res.stderr
    assert int(m.group(1)) >= 2 * NDIRS + 2  # every dNN and dNN/sub, img and its ancestors
    assert int(m.group(2)) >= NDIRS


def test_unpinned_symlink_deep_in_wide_treeassert_refused(make_bundle: MakeBundle,
                                                    wide: Path) -> None:
    b = make_bundle("true", trusted=_trusted(wide))
    assert b.run().returncode == 0
    os.symlink("/etc/passwd", wide / "d31" / "sub" / "evil")
    assert_refused(b.run(), f"{wide}/d31/sub/evil is a symlink the manifest does not pin")


def test_first_failing_directory_is_named(make_bundle: MakeBundle, wide: Path) -> None:
    """Three refusals in different directories (taken by different threads): the message
    is the one of the directory that sorts first, on every run."""
    b = make_bundle("true", trusted=_trusted(wide))
    assert b.run().returncode == 0
    os.symlink("/x", wide / "d44" / "sub" / "late")
    os.symlink("/x", wide / "d40" / "mid")
    os.symlink("/x", wide / "d09" / "sub" / "early")
    for _ in range(5):
        assert_refused(b.run(), f"{wide}/d09/sub/early is a symlink")


def test_retargeted_and_missing_pins_in_wide_treeassert_refused(make_bundle: MakeBundle,
                                                          wide: Path) -> None:
    b = make_bundle("true", trusted=_trusted(wide))
    assert b.run().returncode == 0
    link = wide / "d25" / "sub" / "f.link"
    link.unlink()
    os.symlink("/etc/passwd", link)
    assert_refused(b.run(), f"symlink {link} does not point where the manifest pins it")
    link.unlink()
    assert_refused(b.run(), f"pinned symlink {link} is missing")


def test_trusted_directory_replaced_by_symlink_in_wide_treeassert_refused(
        make_bundle: MakeBundle, wide: Path) -> None:
    """d38/sub becomes a symlink to a copy: its children (opened from it by another thread)
    must not be reached through it."""
    b = make_bundle("true", trusted=_trusted(wide))
    assert b.run().returncode == 0
    sub = wide / "d38" / "sub"
    shutil.copytree(sub, wide / "d38" / "copy", symlinks=True)
    shutil.rmtree(sub)
    os.symlink("copy", sub)
    # d38 now lists an unpinned symlink (sub): refused there, before sub is looked at
    assert_refused(b.run(), f"{sub}")


def test_trusted_directory_replaced_by_file_in_wide_treeassert_refused(
        make_bundle: MakeBundle, wide: Path) -> None:
    b = make_bundle("true", trusted=_trusted(wide))
    assert b.run().returncode == 0
    sub = wide / "d17" / "sub"
    shutil.rmtree(sub)
    sub.write_text("not a directory\n")
    assert_refused(b.run(), f"trusted directory {sub}: not a directory")
