"""Build configuration, trusted-file selection and output naming (no Docker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsc.errors import InputError
from gsc.image.reference import ImageRef, check_tag, output_name
from gsc.shield.config import load_config, load_defaults
from gsc.shield.trusted import AllowedIndex, PatternIndex, matches, select_trusted


def test_defaults_exclude_volatile_places() -> None:
    cfg = load_defaults()
    for p in ("/boot", "/dev", "/proc", "/sys", "/tmp", "/etc/shadow*",
              "/etc/gshadow*", "/etc/mtab", "/etc/.pwd.lock", "/etc/security", "/etc/rc?.d"):
        assert p in cfg.all_excluded
    assert "/etc/hosts" in cfg.all_allowed


def test_config_file_overrides_defaults(tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text("x")
    c = tmp_path / "gsc.yaml"
    c.write_text(
        "key: k.pem\nenclave_size: '1G'\nmax_threads: 8\ndebug: true\n"
        "allowed_files: ['/data/']\nenv_passthrough: [TZ]\n"
    )
    cfg = load_config(c)
    assert cfg.key == (tmp_path / "k.pem").resolve()
    assert (cfg.enclave_size, cfg.max_threads, cfg.debug) == ("1G", 8, True)
    assert "/data/" in cfg.all_allowed and "/etc/hosts" in cfg.all_allowed
    assert cfg.env_passthrough == ("TZ",)
    assert cfg.with_overrides(max_threads=2, key=None).max_threads == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("bogus: 1\n", "unknown setting 'bogus'"),
        ("max_threads: many\n", "max_threads: expected an integer"),
        ("allowed_files: [relative/path]\n", "not an absolute path"),
        ("debug: 3\n", "debug: expected true or false"),
        ("log_level: loud\n", "log_level: expected one of"),
        ("- a\n- b\n", "expected a mapping"),
        ("a: [\n", "invalid YAML"),
        ("env_passthrough: ['A=B']\n", "invalid variable name"),
    ],
)
def test_bad_config_is_a_clear_input_error(tmp_path: Path, text: str, needle: str) -> None:
    c = tmp_path / "gsc.yaml"
    c.write_text(text)
    with pytest.raises(InputError, match=needle):
        load_config(c)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("/var/lib/x", "/var", True),
        ("/variable", "/var", False),
        ("/etc/shadow-", "/etc/shadow*", True),
        ("/etc/rc2.d/S01x", "/etc/rc?.d", True),
        ("/etc/rc.d/x", "/etc/rc?.d", False),
        ("/etc", "/etc/mtab", False),
    ],
)
def test_exclusion_patterns(path: str, pattern: str, expected: bool) -> None:
    assert matches(path, pattern) is expected


_SEGMENTS = st.sampled_from(["a", "b", "etc", "rc2.d", "rc.d", "shadow", "shadow-", "",
                             "x y", "[", "]", "*"])
_PATHS = st.lists(_SEGMENTS, max_size=4).map(lambda segs: "/" + "/".join(segs))
_PATTERNS = st.lists(st.one_of(_PATHS, _PATHS.map(lambda p: p + "/"), st.sampled_from(
    ["/etc/rc?.d", "/etc/shadow*", "/b/*", "/[ab]", "/[", "a/b", "", "/", "//"])), max_size=6)


@given(_PATHS, _PATTERNS)
def test_pattern_index_agrees_with_matches(path: str, patterns: list[str]) -> None:
    assert PatternIndex(patterns).any_match(path) == any(matches(path, p) for p in patterns)


@given(_PATHS, _PATTERNS)
def test_allowed_index_gives_the_first_covering_entry(path: str, allowed: list[str]) -> None:
    def covers(a: str) -> bool:
        if a.endswith("/"):
            return path.startswith(a) or path == a.rstrip("/")
        return path == a

    assert AllowedIndex(allowed).covering(path) == next((a for a in allowed if covers(a)), None)


def test_selection_is_sorted_filtered_and_forced() -> None:
    entries = [("/usr/bin/b", "b" * 64), ("/tmp/t", "t" * 64), ("/etc/shadow", "s" * 64),
               ("/usr/bin/a", "a" * 64), ("/var/keep/x", "k" * 64),
               ("/bad\udcff", "z" * 64)]
    sel = select_trusted(entries, exclude=["/tmp", "/var", "/etc/shadow*"],
                         include=["/var/keep"])
    assert [f.path for f in sel.files] == ["/usr/bin/a", "/usr/bin/b", "/var/keep/x"]
    assert len(sel.skipped_unrepresentable) == 1
    with pytest.raises(InputError, match="does not name any regular file"):
        select_trusted(entries, exclude=[], include=["/nothing/here"])


ID = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "signed", "expected"),
    [
        ("myimage", True, "gsc-myimage:latest"),
        ("myimage:1.2", False, "gsc-myimage:1.2-unsigned"),
        ("127.0.0.1:5000/team/app:v1", True, "gsc-team/app:v1"),
        ("gsc-myimage:1.2", True, "gsc-gsc-myimage:1.2"),
        (ID, True, "gsc-image-abababababab:latest"),
        ("abababababab", True, "gsc-image-abababababab:latest"),   # an ID prefix
    ],
)
def test_default_tag(ref: str, signed: bool, expected: str) -> None:
    assert output_name(ImageRef.parse(ref), ID, [], signed=signed) == expected


def test_repository_named_like_a_hex_id_is_a_name() -> None:
    # The Engine found a tagged repository "deadbeefcafe", not an ID starting with it.
    ref = ImageRef.parse("deadbeefcafe")
    assert not ref.is_id
    assert not ref.named_by_id(ID, ["deadbeefcafe:latest"])
    assert output_name(ref, ID, ["deadbeefcafe:latest"], signed=True) == (
        "gsc-deadbeefcafe:latest")
    # The same text that is also a prefix of the ID, with no such repository: an ID.
    assert ImageRef.parse("abababababab").named_by_id(ID, ["other:1"])


def test_reference_parts() -> None:
    r = ImageRef.parse("registry.example:5000/team/app:v1@sha256:" + "c" * 64)
    assert (r.registry, r.repository, r.tag) == ("registry.example:5000", "team/app", "v1")
    assert r.pull_args == ("registry.example:5000/team/app", "sha256:" + "c" * 64)
    assert ImageRef.parse(ID).is_id
    for bad in ("", "-x", "a b", "UPPER", "app:bad tag", "app@sha256:xyz"):
        with pytest.raises(InputError):
            ImageRef.parse(bad)


def test_default_tag_for_signing_a_shielded_image() -> None:
    def name(ref: str) -> str:
        return output_name(ImageRef.parse(ref), "x", [], signed=True, shielded=True)

    assert name("gsc-app:1.2-unsigned") == "gsc-app:1.2"
    assert name("gsc-app") == "gsc-app:latest"


def test_check_tag() -> None:
    assert check_tag("x/y") == ("x/y", "latest")
    with pytest.raises(InputError):
        check_tag("UPPER:1")
    with pytest.raises(InputError):
        check_tag("ok:bad tag")


def test_docker_provided_files_are_never_trusted() -> None:
    entries = [("/etc/hosts", "a" * 64), ("/etc/hostname", "b" * 64),
               ("/etc/resolv.conf", "c" * 64), ("/etc/passwd", "d" * 64)]
    sel = select_trusted(entries, exclude=[], allowed=["/etc/hosts"])
    assert [f.path for f in sel.files] == ["/etc/passwd"]
    with pytest.raises(InputError, match="Docker provides it"):
        select_trusted(entries, exclude=[], include=["/etc/resolv.conf"])


def test_allowed_wins_over_trusted_and_forcing_an_overlap_is_an_error() -> None:
    entries = [("/data/seed.db", "a" * 64), ("/data2/x", "b" * 64), ("/app/log", "c" * 64),
               ("/app/main", "d" * 64)]
    sel = select_trusted(entries, exclude=[], allowed=["/data/", "/app/log"])
    assert [f.path for f in sel.files] == ["/app/main", "/data2/x"]
    with pytest.raises(InputError, match="under the allowed path '/data/'"):
        select_trusted(entries, exclude=[], include=["/data/seed.db"], allowed=["/data/"])
