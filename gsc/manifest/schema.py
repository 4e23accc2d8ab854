"""The manifest schema that gsc and the native runtime both enforce (docs/manifest-format.md).

Every key is either honoured (with a fixed type), accepted without effect in native mode
(IGNORED), or refused: unknown keys fail closed with the key named. The strict C reader
(runtime/core/manifest.c) implements the same rules; tests/manifest keeps the two in step.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from gsc.errors import InputError
from gsc.manifest import canonical
from gsc.sgx import params
from gsc.sgx.params import type_name as _type

MAX_PATH = 4095
LOG_LEVELS = ("error", "warning", "debug", "trace")
MOUNT_TYPES = ("chroot", "tmpfs", "encrypted")
KEY_NAME = re.compile(r"[A-Za-z0-9-][A-Za-z0-9_-]{0,63}")  # runtime/core/manifest.c

# Keys honoured by the runtime (dotted; loader.env.* is handled separately).
HONOURED = (
    "libos.entrypoint",
    "loader.argv",
    "loader.argv_src_file",
    "loader.insecure__use_cmdline_argv",
    "loader.env.*",
    "loader.insecure__use_host_env",
    "loader.log_level",
    "fs.start_dir",
    "fs.mounts",
    *(f"sgx.{k}" for k in params.SCALAR_KEYS),   # rules: gsc.sgx.params
    "sgx.trusted_files",
    "sgx.allowed_files",
    "gsc.symlinks",
    "gsc.readonly_files",
    "gsc.executables",
    "gsc.container_config",
    "gsc.insecure__allow_no_landlock",
    "gsc.verify_trusted_files",
    "gsc.insecure__allow_manifest_keys",
    "fs.insecure__keys.*",
    "gsc.encrypted_key_files.*",
)

# Accepted with any value but without effect in native mode: the key itself or anything
# under it. Keep in step with IGNORED in runtime/core/manifest.c.
IGNORED = (
    "libos.check_invalid_pointers",
    "loader.entrypoint",
    "loader.insecure__disable_aslr",
    "loader.pal_internal_mem_size",
    "sgx.enable_stats",
    "sgx.insecure__allow_memfaults_without_exinfo",
    "sgx.insecure__rpc_thread_num",
    "sgx.preheat_enclave",
    "sgx.profile",
    "sgx.ra_client_linkable",
    "sgx.ra_client_spid",
    "sgx.vtune_profile",
    "sys",
)

# gsc.verify_trusted_files (docs/runtime.md, "Verification at launch").
VERIFY_TRUSTED_FILES = ("on_first_use", "at_launch")

_HEX64 = re.compile(r"[0-9a-f]{64}")

def is_normal_path(path: str) -> bool:
    """Absolute, lexically normal (no empty, '.' or '..' segments, no trailing '/')."""
    if not path.startswith("/") or "\x00" in path:
        return False
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH:
        return False
    if path == "/":
        return True
    return all(seg not in ("", ".", "..") for seg in path[1:].split("/"))


def normalise_path(path: str) -> str | None:
    """Collapse '//' , '.' and a trailing '/'; None if relative or if it contains '..'
    (lexical '..' can disagree with the kernel when symlinks are involved)."""
    if not path.startswith("/"):
        return None
    segs = [s for s in path.split("/") if s not in ("", ".")]
    if ".." in segs:
        return None
    return "/" + "/".join(segs)


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> InputError:
        return InputError(f"{self.source}: {key}: {problem}")

    def string(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {_type(value)}")
        if "\x00" in value:
            raise self.fail(key, "NUL character")
        return value

    def boolean(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {_type(value)}")
        return value

    def integer(self, key: str, value: Any, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, not {_type(value)}")
        if not lo <= value <= hi:
            raise self.fail(key, f"must be between {lo} and {hi}")
        return value

    def choice(self, key: str, value: Any, choices: tuple[str, ...]) -> str:
        text = self.string(key, value)
        if text not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {text!r}")
        return text

    def path(self, key: str, value: Any) -> str:
        text = self.string(key, value)
        if not is_normal_path(text):
            raise self.fail(key, f"{text!r} is not a normalised absolute path")
        return text

    def file_uri(self, key: str, value: Any) -> str:
        text = self.string(key, value)
        if not text.startswith("file:"):
            raise self.fail(key, f"{text!r} is not a file: URI")
        path = text[5:]
        if not is_normal_path(path):
            raise self.fail(key, f"{text!r} is not a normalised absolute path")
        return path

    def array(self, key: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be an array, not {_type(value)}")
        return value

    def table(self, key: str, value: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a table, not {_type(value)}")
        for k in value:
            if k not in keys:
                raise self.fail(f"{key}.{k}", "unknown key")
        return value


def _flat(
    table: Mapping[str, Any], prefix: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]
) -> None:
    for k, v in table.items():
        path = (*prefix, k)
        if isinstance(v, Mapping) and v and not _is_env(path):
            _flat(v, path, out)
        else:
            out.append((path, v))


def _is_env(path: tuple[str, ...]) -> bool:
    return len(path) == 3 and path[:2] == ("loader", "env")


def _is_named_key(path: tuple[str, ...]) -> bool:
    """fs.insecure__keys.NAME, gsc.encrypted_key_files.NAME."""
    return len(path) == 3 and path[:2] in (("fs", "insecure__keys"), ("gsc", "encrypted_key_files"))


_IGNORED_T = tuple(tuple(p.split(".")) for p in IGNORED)
_HONOURED_T = frozenset(tuple(k.split(".")) for k in HONOURED if not k.endswith("*"))


def _ignored(path: tuple[str, ...]) -> bool:
    return any(path[: len(p)] == p for p in _IGNORED_T)


def validate(doc: Mapping[str, Any], source: str) -> None:
    """Check `doc` against the schema; InputError("<source>: <key>: <problem>") otherwise."""
    c = _Checker(source)
    if not isinstance(doc, Mapping):
        raise c.fail("<document>", "a manifest must be a table")
    pairs: list[tuple[tuple[str, ...], Any]] = []
    _flat(doc, (), pairs)
    # Keys are matched segment by segment (a quoted segment may contain '.'); only honoured
    # keys, whose segments are plain words, are then looked up by their dotted name.
    flat: dict[str, Any] = {}
    for path, value in pairs:
        key = ".".join(path)
        if _ignored(path):
            continue
        if path in _HONOURED_T or _is_env(path) or _is_named_key(path):
            flat[key] = value
            continue
        if path == ("sgx", "thread_num"):
            raise c.fail(key, "unknown key (the current name is sgx.max_threads)")
        raise c.fail(key, "unknown key")

    if "libos.entrypoint" not in flat:
        raise c.fail("libos.entrypoint", "required key is missing")
    c.path("libos.entrypoint", flat["libos.entrypoint"])

    _check_loader(c, flat)
    if "fs.start_dir" in flat:
        c.path("fs.start_dir", flat["fs.start_dir"])
    encrypted: list[str] = []
    if "fs.mounts" in flat:
        encrypted = _check_mounts(c, flat["fs.mounts"])
    trusted = _check_sgx(c, flat)
    _check_gsc(c, flat, trusted)
    _check_encrypted(c, flat, encrypted, trusted)

    if "loader.argv_src_file" in flat:
        src = c.file_uri("loader.argv_src_file", flat["loader.argv_src_file"])
        if src not in trusted:
            raise c.fail("loader.argv_src_file", f"{src!r} is not listed in sgx.trusted_files")


def _check_loader(c: _Checker, flat: Mapping[str, Any]) -> None:
    sources = []
    if "loader.argv" in flat:
        argv = c.array("loader.argv", flat["loader.argv"])
        if not argv:
            raise c.fail("loader.argv", "must not be empty")
        for n, arg in enumerate(argv):
            c.string(f"loader.argv[{n}]", arg)
        sources.append("loader.argv")
    if "loader.argv_src_file" in flat:
        sources.append("loader.argv_src_file")
    if "loader.insecure__use_cmdline_argv" in flat and c.boolean(
        "loader.insecure__use_cmdline_argv", flat["loader.insecure__use_cmdline_argv"]
    ):
        sources.append("loader.insecure__use_cmdline_argv")
    if len(sources) > 1:
        raise c.fail(sources[1], f"mutually exclusive with {sources[0]}")
    if "loader.insecure__use_host_env" in flat:
        c.boolean("loader.insecure__use_host_env", flat["loader.insecure__use_host_env"])
    if "loader.log_level" in flat:
        c.choice("loader.log_level", flat["loader.log_level"], LOG_LEVELS)
    for key, value in flat.items():
        if key.startswith("loader.env."):
            _check_env(c, key, value)


def _check_env(c: _Checker, key: str, value: Any) -> None:
    name = key[len("loader.env.") :]
    if not name or "=" in name or "\x00" in name:
        raise c.fail(key, "invalid environment variable name")
    if isinstance(value, str):
        c.string(key, value)
        return
    if not isinstance(value, Mapping):
        raise c.fail(key, f"must be a string or a table, not {_type(value)}")
    table = c.table(key, value, ("value", "passthrough"))
    if set(table) == {"value"}:
        c.string(f"{key}.value", table["value"])
    elif set(table) == {"passthrough"}:
        if table["passthrough"] is not True:
            raise c.fail(f"{key}.passthrough", "must be true (omit the variable instead)")
    else:
        raise c.fail(key, "must be { value = \"...\" } or { passthrough = true }")


def _check_mounts(c: _Checker, value: Any) -> list[str]:
    """Returns the paths of the encrypted mounts."""
    seen: set[str] = set()
    encrypted: list[str] = []
    for n, mount in enumerate(c.array("fs.mounts", value)):
        key = f"fs.mounts[{n}]"
        table = c.table(key, mount, ("path", "type", "uri", "key_name"))
        if "path" not in table:
            raise c.fail(key, "path is required")
        path = c.path(f"{key}.path", table["path"])
        kind = "chroot"
        if "type" in table:
            kind = c.string(f"{key}.type", table["type"])
            c.choice(f"{key}.type", kind, MOUNT_TYPES)
        if "key_name" in table:
            if kind != "encrypted":
                raise c.fail(f"{key}.key_name", "key_name is only for encrypted mounts")
            name = c.string(f"{key}.key_name", table["key_name"])
            if not KEY_NAME.fullmatch(name):
                raise c.fail(
                    f"{key}.key_name",
                    "invalid key name (1 to 64 of A-Z a-z 0-9 _ -, not starting with _: "
                    "Gramine's _sgx_* keys need SGX)",
                )
        if kind == "encrypted":
            if path == "/":
                raise c.fail(f"{key}.path", "an encrypted mount cannot be /")
            encrypted.append(path)
        if kind in ("chroot", "encrypted"):
            if "uri" not in table:
                raise c.fail(key, f"uri is required for a {kind} mount")
            uri = c.string(f"{key}.uri", table["uri"])
            if uri != "file:" + path:
                raise c.fail(
                    f"{key}.uri",
                    "native mode only supports identity mounts (uri = \"file:\" + path)",
                )
        elif "uri" in table:
            raise c.fail(f"{key}.uri", "a tmpfs mount takes no uri")
        if path in seen:
            raise c.fail(f"{key}.path", f"{path!r} is mounted twice")
        seen.add(path)
    return encrypted


def _under(path: str, base: str) -> bool:
    return base == "/" or path == base or path.startswith(base + "/")


def _check_encrypted(
    c: _Checker, flat: Mapping[str, Any], encrypted: list[str], trusted: set[str]
) -> None:
    """Encrypted mounts are read-only and never trusted; keys in the manifest only for debug
    enclaves unless allowed (same rules as runtime/core/manifest.c)."""
    writable = [
        c.file_uri("sgx.allowed_files", a) for a in flat.get("sgx.allowed_files", [])
    ] + [
        m["path"] for m in flat.get("fs.mounts", []) if m.get("type") == "tmpfs"
    ]
    for e in sorted(encrypted):
        for t in sorted(trusted):
            if _under(t, e):
                raise c.fail(
                    "fs.mounts",
                    f"{t} is a trusted file in the encrypted mount {e} "
                    "(encrypted files are never trusted files)",
                )
        for a in writable:
            if _under(a, e) or _under(e, a):
                raise c.fail(
                    "fs.mounts",
                    f"the encrypted mount {e} overlaps the writable path {a}: native mode "
                    "cannot store files the app writes encrypted, so encrypted mounts must "
                    "stay read-only",
                )
        for other in encrypted:
            if other != e and _under(e, other):
                raise c.fail("fs.mounts", f"encrypted mount {e} lies in encrypted mount {other}")
    if "gsc.insecure__allow_manifest_keys" in flat:
        c.boolean("gsc.insecure__allow_manifest_keys", flat["gsc.insecure__allow_manifest_keys"])
    keys = [k for k in flat if k.startswith("fs.insecure__keys.")]
    for k in keys:
        name = k[len("fs.insecure__keys.") :]
        if not KEY_NAME.fullmatch(name):
            raise c.fail(k, "invalid key name (1 to 64 of A-Z a-z 0-9 _ -, not starting with _)")
        value = c.string(k, flat[k])
        if not re.fullmatch(r"[0-9a-fA-F]{32}", value):
            raise c.fail(k, "must be 32 hexadecimal digits")
    for k in (k for k in flat if k.startswith("gsc.encrypted_key_files.")):
        name = k[len("gsc.encrypted_key_files.") :]
        if not KEY_NAME.fullmatch(name):
            raise c.fail(k, "invalid key name (1 to 64 of A-Z a-z 0-9 _ -, not starting with _)")
        c.path(k, flat[k])
    if keys and flat.get("sgx.debug") is not True and flat.get(
        "gsc.insecure__allow_manifest_keys"
    ) is not True:
        raise c.fail(
            keys[0],
            "keys in the manifest are readable by anyone who has the image; refused for a "
            "non-debug enclave unless gsc.insecure__allow_manifest_keys = true",
        )


def _check_sgx(c: _Checker, flat: Mapping[str, Any]) -> set[str]:
    for key in params.SCALAR_KEYS:
        if f"sgx.{key}" in flat:
            problem = params.sgx_problem(key, flat[f"sgx.{key}"])
            if problem is not None:
                raise c.fail(f"sgx.{key}", problem)

    trusted: set[str] = set()
    previous: bytes | None = None
    for n, entry in enumerate(c.array("sgx.trusted_files", flat.get("sgx.trusted_files", []))):
        key = f"sgx.trusted_files[{n}]"
        table = c.table(key, entry, ("uri", "sha256"))
        for field in ("uri", "sha256"):
            if field not in table:
                raise c.fail(key, f"{field} is required")
        path = c.file_uri(f"{key}.uri", table["uri"])
        digest = c.string(f"{key}.sha256", table["sha256"])
        if not _HEX64.fullmatch(digest):
            raise c.fail(f"{key}.sha256", "must be 64 lowercase hexadecimal digits")
        previous = _ascending(c, key, path, previous)
        trusted.add(path)
    previous = None
    for n, entry in enumerate(c.array("sgx.allowed_files", flat.get("sgx.allowed_files", []))):
        key = f"sgx.allowed_files[{n}]"
        previous = _ascending(c, key, c.file_uri(key, entry), previous)
    return trusted


def _check_gsc(c: _Checker, flat: Mapping[str, Any], trusted: set[str]) -> None:
    """gsc.*: the namespace and config pins (docs/manifest-format.md)."""
    if "gsc.container_config" in flat:
        c.string("gsc.container_config", flat["gsc.container_config"])
    if "gsc.insecure__allow_no_landlock" in flat:
        c.boolean("gsc.insecure__allow_no_landlock", flat["gsc.insecure__allow_no_landlock"])
    if "gsc.verify_trusted_files" in flat:
        c.choice("gsc.verify_trusted_files", flat["gsc.verify_trusted_files"],
                 VERIFY_TRUSTED_FILES)
    previous: bytes | None = None
    for n, entry in enumerate(c.array("gsc.readonly_files", flat.get("gsc.readonly_files", []))):
        key = f"gsc.readonly_files[{n}]"
        previous = _ascending(c, key, c.file_uri(key, entry), previous)
    previous = None
    for n, entry in enumerate(c.array("gsc.executables", flat.get("gsc.executables", []))):
        key = f"gsc.executables[{n}]"
        path = c.file_uri(key, entry)
        previous = _ascending(c, key, path, previous)
        if path not in trusted:
            raise c.fail(key, f"{path!r} is not listed in sgx.trusted_files")
    trusted_dirs = {d for p in trusted for d in _ancestors(p)}
    previous = None
    for n, entry in enumerate(c.array("gsc.symlinks", flat.get("gsc.symlinks", []))):
        key = f"gsc.symlinks[{n}]"
        table = c.table(key, entry, ("path", "target"))
        for field in ("path", "target"):
            if field not in table:
                raise c.fail(key, f"{field} is required")
        path = c.path(f"{key}.path", table["path"])
        if path == "/":
            raise c.fail(f"{key}.path", "/ cannot be a symlink")
        target = c.string(f"{key}.target", table["target"])
        if not 1 <= len(target.encode("utf-8", "surrogatepass")) <= MAX_PATH:
            raise c.fail(f"{key}.target", f"must be 1 to {MAX_PATH} bytes")
        previous = _ascending(c, key, path, previous)
        if path in trusted or path in trusted_dirs:
            raise c.fail(f"{key}.path", f"{path!r} is a trusted file or above one")


def _ancestors(path: str) -> list[str]:
    """Strict ancestors of a normal absolute path, "/" included."""
    out = ["/"]
    segs = path[1:].split("/")
    for i in range(1, len(segs)):
        out.append("/" + "/".join(segs[:i]))
    return out


def _ascending(c: _Checker, key: str, path: str, previous: bytes | None) -> bytes:
    raw = path.encode("utf-8")
    if previous is not None:
        if raw == previous:
            raise c.fail(key, f"{path!r} is listed twice")
        if raw < previous:
            raise c.fail(key, "entries must be sorted by path (use schema.canonicalise)")
    return raw


def canonicalise(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `doc` in the normal form `validate` requires: trusted and allowed files
    sorted by path (bytewise), allowed duplicates dropped, '//', '.' and trailing '/' removed
    from file: URIs, empty tables pruned. Identical duplicate trusted entries are merged;
    conflicting ones are left for `validate` to refuse."""
    out: dict[str, Any] = _copy(dict(doc))
    sgx = out.get("sgx")
    if isinstance(sgx, dict):
        tf = sgx.get("trusted_files")
        if isinstance(tf, list):
            sgx["trusted_files"] = _sorted_unique([_norm_entry(e) for e in tf])
        af = sgx.get("allowed_files")
        if isinstance(af, list):
            sgx["allowed_files"] = _sorted_unique([_norm_uri(e) for e in af])
    gsc = out.get("gsc")
    if isinstance(gsc, dict):
        ro = gsc.get("readonly_files")
        if isinstance(ro, list):
            gsc["readonly_files"] = _sorted_unique([_norm_uri(e) for e in ro])
        ex = gsc.get("executables")
        if isinstance(ex, list):
            gsc["executables"] = _sorted_unique([_norm_uri(e) for e in ex])
        links = gsc.get("symlinks")
        if isinstance(links, list):
            gsc["symlinks"] = _sorted_unique(links, "path")
    return _prune(out)


def _copy(value: Any) -> Any:
    """A deep copy of manifest data (tables, arrays, immutable scalars), without
    copy.deepcopy's bookkeeping: a manifest has no shared or cyclic parts."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    return copy.deepcopy(value) if isinstance(value, Mapping) else value


def _norm_uri(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("file:"):
        path = normalise_path(value[5:])
        if path is not None:
            return "file:" + path
    return value


def _norm_entry(entry: Any) -> Any:
    if isinstance(entry, dict) and "uri" in entry:
        entry = dict(entry)
        entry["uri"] = _norm_uri(entry["uri"])
    return entry


def _entry_sort_key(entry: Any, field: str = "uri") -> tuple[int, bytes]:
    uri = entry.get(field) if isinstance(entry, dict) else entry
    if isinstance(uri, str):
        return (0, uri.encode("utf-8", "surrogatepass"))
    return (1, b"")


def _sorted_unique(items: list[Any], field: str = "uri") -> list[Any]:
    out: list[Any] = []
    for item in sorted(items, key=lambda e: _entry_sort_key(e, field)):
        if out and out[-1] == item:
            continue
        out.append(item)
    return out


def _prune(table: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, dict):
            v = _prune(v)
            if not v:
                continue
        out[k] = v
    return out


def render(doc: Mapping[str, Any], source: str) -> bytes:
    """canonicalise + validate + canonical.dumps: the bytes of a final manifest."""
    return render_loaded(doc, source)[0]


def render_loaded(doc: Mapping[str, Any], source: str) -> tuple[bytes, dict[str, Any]]:
    """``render``, and the document that ``load`` would give for those bytes (validated
    once, and never parsed back from the text)."""
    normal = canonicalise(doc)
    validate(normal, source)
    try:
        data = canonical.dumps(normal)
    except canonical.DumpError as exc:
        raise InputError(f"{source}: {exc}") from None
    return data, canonical.parsed(normal)


def load(data: bytes, source: str) -> dict[str, Any]:
    """Parse canonical bytes and validate them against the schema."""
    doc = canonical.loads(data, source)
    validate(doc, source)
    return doc
