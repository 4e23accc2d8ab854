"""Directory rules (docs/runtime.md, section 3a): a trusted directory whose launch listing
holds only trusted files, pinned symlinks and such directories gets one Landlock rule
(READ_FILE|READ_DIR) instead of one per file; EXECUTE stays per file, on gsc.executables
only. The runtime runs on the host; "the image" is the test's directory tree. Phase 2 (the
kernel answers opens) is reached by waiting for the verifier, as in test_special.py."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from rt_bundle import Bundle, MakeBundle

WAIT = "/bin/sleep 1.5; "  # phase 2: the verifier has checked every trusted file


@pytest.fixture
def img(tmp_path: Path) -> dict[str, Path]:
    """img/lib: two trusted data files and a trusted subdirectory (a whole trusted
    subtree); img/bin: a trusted program."""
    lib = tmp_path / "img" / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "a.txt").write_text("A\n")
    (lib / "b.txt").write_text("B\n")
    (lib / "sub" / "c.txt").write_text("C\n")
    os.symlink("a.txt", lib / "a.link")
    bind = tmp_path / "img" / "bin"
    bind.mkdir()
    prog = bind / "true"
    shutil.copyfile(os.path.realpath("/bin/true"), prog)
    os.chmod(prog, 0o755)
    return {"lib": lib, "bin": bind, "prog": prog}


def _files(img: dict[str, Path]) -> list[str]:
    lib = img["lib"]
    return [str(lib / "a.txt"), str(lib / "b.txt"), str(lib / "sub" / "c.txt")]


def _stats(res: Any) -> tuple[int, int]:
    """(directory rules, trusted files covered by them) from the debug line."""
    m = re.search(r"(\d+) directory rules covering (\d+) trusted files", res.stderr)
    assert m, res.stderr
    return int(m.group(1)), int(m.group(2))


def _run(b: Bundle) -> Any:
    res = b.run(timeout=60)
    assert "phase 2" in res.stderr, res.stderr
    return res


def test_fully_trusted_directory_gets_one_rule(make_bundle: MakeBundle,
                                               img: dict[str, Path]) -> None:
    lib = img["lib"]
    b = make_bundle(WAIT + f"cat {lib}/a.txt {lib}/a.link {lib}/sub/c.txt",
                    trusted=_files(img), log_level="debug")
    res = _run(b)
    assert res.returncode == 0 and res.stdout == "A\nA\nC\n", res.stderr
    assert _stats(res) == (1, 3)


def test_extra_file_in_trusted_directory_not_readable(make_bundle: MakeBundle,
                                                      img: dict[str, Path]) -> None:
    """A derived image adds lib/extra (and lib/sub/extra2) next to trusted files: the
    directories fall back to per-file rules, so the kernel refuses them in phase 2."""
    lib = img["lib"]
    script = (WAIT + f"cat {lib}/extra; echo rc=$?; cat {lib}/sub/extra2; echo rc=$?; "
              f"cat {lib}/b.txt")
    b = make_bundle(script, trusted=_files(img), log_level="debug")
    (lib / "sub" / "extra2").write_text("UNTRUSTED2\n")
    res = _run(b)
    assert res.stdout == "rc=1\nrc=1\nB\n", res.stderr
    assert "UNTRUSTED" not in res.stdout
    # phase 2: opens are CONTINUEd, so the refusal is the kernel's (Landlock)
    assert "Permission denied" in res.stderr
    assert _stats(res) == (0, 0)
    (lib / "sub" / "extra2").unlink()
    (lib / "extra").write_text("UNTRUSTED\n")
    res = _run(b)
    assert res.stdout == "rc=1\nrc=1\nB\n", res.stderr
    # lib falls back; lib/sub alone still qualifies (a missing extra2: cat says rc=1)
    assert _stats(res) == (1, 1)


def test_untrusted_subdirectory_disqualifies(make_bundle: MakeBundle,
                                             img: dict[str, Path]) -> None:
    lib = img["lib"]
    (lib / "other").mkdir()
    (lib / "other" / "x").write_text("X\n")
    b = make_bundle(WAIT + f"cat {lib}/other/x; echo rc=$?; cat {lib}/a.txt",
                    trusted=_files(img), log_level="debug")
    res = _run(b)
    assert res.stdout == "rc=1\nA\n", res.stderr
    assert _stats(res) == (1, 1)  # only lib/sub


def test_executable_not_listed_cannot_run(make_bundle: MakeBundle,
                                          img: dict[str, Path]) -> None:
    """A trusted file with an x bit that gsc.executables does not list gets no EXECUTE."""
    prog = str(img["prog"])

    def drop(doc: dict[str, Any]) -> None:
        from rt_bundle import executable_uris
        doc.setdefault("gsc", {})["executables"] = [
            u for u in executable_uris(doc) if u != "file:" + prog]

    for wait in ("", WAIT):
        b = make_bundle(wait + f"{prog}; echo rc=$?", trusted=[prog], tweak=drop)
        res = b.run(timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip().endswith("rc=126"), (res.stdout, res.stderr)
    b = make_bundle(WAIT + f"{prog}; echo rc=$?", trusted=[prog])
    res = b.run(timeout=60)
    assert res.stdout.strip() == "rc=0", (res.stdout, res.stderr)


def test_without_executables_key_behaves_as_before(make_bundle: MakeBundle,
                                                   img: dict[str, Path]) -> None:
    """An older build's manifest (no gsc.executables): per-file rules everywhere, EXECUTE
    from the x bit at launch."""
    lib, prog = img["lib"], str(img["prog"])
    b = make_bundle(WAIT + f"{prog}; echo rc=$?; cat {lib}/a.txt",
                    trusted=[*_files(img), prog], log_level="debug")
    b.executables = False
    b.manifest.get("gsc", {}).pop("executables", None)
    b.write()
    res = _run(b)
    assert res.stdout == "rc=0\nA\n", res.stderr
    assert _stats(res) == (0, 0)
