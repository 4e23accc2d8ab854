"""Helpers for tests/manifest: the C parser through cffi, an independent Python view of what
the runtime should see, and hypothesis strategies for schema-valid manifests."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from typing import Any

from gsc._native import ffi, lib
from hypothesis import strategies as st

CPU = ("avx", "avx512", "amx", "mpx", "pkru")
CPU_VALUE = {"unspecified": 0, "required": 1, "disabled": 2}
LEVELS = {"error": 0, "warning": 1, "debug": 2, "trace": 3}
RA = {"none": 0, "epid": 1, "dcap": 2}


def _s(p: Any) -> str | None:
    return None if p == ffi.NULL else ffi.string(p).decode("utf-8")


def c_parse(data: bytes) -> tuple[dict[str, Any] | None, str]:
    """(view, "") when the C parser accepts `data`, else (None, error line)."""
    m = ffi.new("gsc_manifest *")
    err = ffi.new("char[512]")
    if lib.gsc_manifest_parse(data, len(data), m, err, 512) != 0:
        return None, ffi.string(err).decode("utf-8", "replace")
    try:
        return c_view(m), ""
    finally:
        lib.gsc_manifest_free(m)


def c_view(m: Any) -> dict[str, Any]:
    return {
        "entrypoint": _s(m.entrypoint),
        "argv": [_s(m.argv[i]) for i in range(m.argc)] if m.has_argv else None,
        "argv_src_file": _s(m.argv_src_file),
        "use_cmdline_argv": bool(m.use_cmdline_argv),
        "env": [
            (_s(m.env[i].name), _s(m.env[i].value), bool(m.env[i].passthrough))
            for i in range(m.nenv)
        ],
        "use_host_env": bool(m.use_host_env),
        "log_level": m.log_level,
        "start_dir": _s(m.start_dir),
        "enclave_size": lib.gsc_manifest_enclave_size(m),
        "max_threads": lib.gsc_manifest_max_threads(m),
        "edmm_enable": bool(lib.gsc_manifest_edmm_enable(m)),
        "debug": bool(m.debug),
        "use_exinfo": bool(m.use_exinfo),
        "isvprodid": m.isvprodid,
        "isvsvn": m.isvsvn,
        "cpu_features": list(m.cpu_features),
        "allow_all_but_log": bool(m.allow_all_but_log),
        "trusted": [
            (_s(m.trusted[i].path), bytes(ffi.buffer(m.trusted[i].sha256, 32)).hex())
            for i in range(m.ntrusted)
        ],
        "allowed": [_s(m.allowed[i]) for i in range(m.nallowed)],
        "tmpfs": [_s(m.tmpfs[i]) for i in range(m.ntmpfs)],
        "symlinks": [(_s(m.symlinks[i].path), _s(m.symlinks[i].target))
                     for i in range(m.nsymlinks)],
        "allow_no_landlock": bool(m.allow_no_landlock),
        "has_container_config": bool(m.has_container_config),
        "readonly": [_s(m.readonly[i]) for i in range(m.nreadonly)],
        "executables": [_s(m.executables[i]) for i in range(m.nexecutables)],
        "has_executables": bool(m.has_executables),
        "remote_attestation": m.remote_attestation,
        "verify_at_launch": bool(m.verify_at_launch),
    }


def _size(text: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1] in mult:
        return int(text[:-1]) * mult[text[-1]]
    return int(text)


def expected_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """What the runtime should see for a schema-valid doc, computed from the documented
    semantics (docs/manifest-format.md), independently of the C code."""
    loader = doc.get("loader", {})
    sgx = doc.get("sgx", {})
    fs = doc.get("fs", {})
    env = []
    for name in sorted(loader.get("env", {}), key=lambda n: n.encode()):
        value = loader["env"][name]
        if isinstance(value, str):
            env.append((name, value, False))
        elif "value" in value:
            env.append((name, value["value"], False))
        else:
            env.append((name, None, True))
    edmm = sgx.get("edmm_enable", False)
    size = _size(sgx["enclave_size"]) if "enclave_size" in sgx else (
        1 << 40 if edmm else 256 << 20)
    cpu = sgx.get("cpu_features", {})
    gsc = doc.get("gsc", {})
    return {
        "entrypoint": doc["libos"]["entrypoint"],
        "argv": loader.get("argv"),
        "argv_src_file": loader["argv_src_file"][5:] if "argv_src_file" in loader else None,
        "use_cmdline_argv": loader.get("insecure__use_cmdline_argv", False),
        "env": env,
        "use_host_env": loader.get("insecure__use_host_env", False),
        "log_level": LEVELS[loader.get("log_level", "error")],
        "start_dir": fs.get("start_dir"),
        "enclave_size": size,
        "max_threads": sgx.get("max_threads", 4),
        "edmm_enable": edmm,
        "debug": sgx.get("debug", False),
        "use_exinfo": sgx.get("use_exinfo", False),
        "isvprodid": sgx.get("isvprodid", 0),
        "isvsvn": sgx.get("isvsvn", 0),
        "cpu_features": [
            CPU_VALUE[cpu.get(f, "disabled" if f in ("mpx", "pkru") else "unspecified")]
            for f in CPU
        ],
        "allow_all_but_log": sgx.get("file_check_policy", "strict") == "allow_all_but_log",
        "trusted": [(t["uri"][5:], t["sha256"]) for t in sgx.get("trusted_files", [])],
        "allowed": [a[5:] for a in sgx.get("allowed_files", [])],
        "tmpfs": sorted(
            (m["path"] for m in fs.get("mounts", []) if m.get("type") == "tmpfs"),
            key=lambda p: p.encode(),
        ),
        "symlinks": [(s["path"], s["target"]) for s in gsc.get("symlinks", [])],
        "allow_no_landlock": gsc.get("insecure__allow_no_landlock", False),
        "has_container_config": "container_config" in gsc,
        "readonly": [a[5:] for a in gsc.get("readonly_files", [])],
        "executables": [a[5:] for a in gsc.get("executables", [])],
        "has_executables": "executables" in gsc,
        "remote_attestation": RA[sgx.get("remote_attestation", "none")],
        "verify_at_launch": gsc.get("verify_trusted_files", "on_first_use") == "at_launch",
    }


# ---- path policy oracle --------------------------------------------------------------

def oracle_normalise(path: str) -> str | None:
    if not path.startswith("/"):
        return None
    out = posixpath.normpath(path)
    while out.startswith("//"):
        out = out[1:]
    return out


def _under(path: str, entry: str) -> bool:
    return entry == "/" or path == entry or path.startswith(entry + "/")


CONTAINER_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def oracle_classify(
    path: str, trusted: list[str], allowed: list[str], tmpfs: list[str],
    symlinks: list[str] = (),  # type: ignore[assignment]
    readonly: list[str] = (),  # type: ignore[assignment]
) -> int:
    if path in CONTAINER_FILES:
        return 4  # Docker's per-container files: read-only, never trusted
    if path in trusted:
        return 1
    if any(_under(path, a) for a in [*allowed, *tmpfs]):
        return 2
    if any(_under(path, r) for r in readonly):
        return 4  # gsc.readonly_files: read-only, allowed wins
    if any(t != path and _under(t, path) for t in [*trusted, *symlinks]):
        return 3
    return 0


def oracle_check(trusted: list[str], allowed: list[str], tmpfs: list[str],
                 symlinks: list[str] = (),  # type: ignore[assignment]
                 readonly: list[str] = ()) -> bool:  # type: ignore[assignment]
    """The launch check: nothing trusted or pinned lies in an allowed (writable or
    read-only) place."""
    return not any(_under(p, w) for p in [*trusted, *symlinks] if p not in CONTAINER_FILES
                   for w in [*allowed, *tmpfs, *readonly])


# ---- strategies ----------------------------------------------------------------------

ANY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
NAME_TEXT = st.text(
    alphabet=st.sampled_from("abcXYZ_-09 .é\"\\\n\t\x7f\x01/="), min_size=1, max_size=6
)
SEGMENT = st.text(
    alphabet=st.sampled_from("abAB09_-. é\"\\\n\x7f\u2028"), min_size=1, max_size=5
).filter(lambda s: s not in (".", ".."))
PATH = st.lists(SEGMENT, min_size=1, max_size=4).map(lambda segs: "/" + "/".join(segs))
SHA = st.binary(min_size=1, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
SIZES = st.sampled_from(["256M", "4G", "1024G", "64K", "0128M", "1048576", "1G", "8M"])


@st.composite
def manifest_docs(draw: st.DrawFn) -> dict[str, Any]:
    trusted_paths = draw(st.lists(PATH, max_size=6, unique=True))
    doc: dict[str, Any] = {"libos": {"entrypoint": draw(PATH)}}
    loader: dict[str, Any] = {}
    args = draw(st.sampled_from(["argv", "src", "cmdline", "none"]))
    if args == "argv":
        loader["argv"] = draw(st.lists(ANY_TEXT, min_size=1, max_size=4))
    elif args == "src" and trusted_paths:
        loader["argv_src_file"] = "file:" + draw(st.sampled_from(trusted_paths))
    elif args == "cmdline":
        loader["insecure__use_cmdline_argv"] = True
    elif draw(st.booleans()):
        loader["insecure__use_cmdline_argv"] = False
    env = draw(
        st.dictionaries(
            NAME_TEXT.filter(lambda n: "=" not in n),
            st.one_of(
                ANY_TEXT,
                ANY_TEXT.map(lambda v: {"value": v}),
                st.just({"passthrough": True}),
            ),
            max_size=4,
        )
    )
    if env:
        loader["env"] = env
    if draw(st.booleans()):
        loader["insecure__use_host_env"] = draw(st.booleans())
    if draw(st.booleans()):
        loader["log_level"] = draw(st.sampled_from(list(LEVELS)))
    if draw(st.booleans()):
        loader["pal_internal_mem_size"] = "64M"  # accepted without effect
    if loader:
        doc["loader"] = loader
    fs: dict[str, Any] = {}
    if draw(st.booleans()):
        fs["start_dir"] = draw(PATH)
    mounts = draw(st.lists(PATH, max_size=3, unique=True))
    if mounts:
        fs["mounts"] = [
            {"path": p, "type": "tmpfs"}
            if draw(st.booleans())
            else {
                "path": p,
                "uri": "file:" + p,
                **({"type": "chroot"} if draw(st.booleans()) else {}),
            }
            for p in mounts
        ]
    if fs:
        doc["fs"] = fs
    sgx: dict[str, Any] = {}
    if draw(st.booleans()):
        sgx["enclave_size"] = draw(SIZES)
    if draw(st.booleans()):
        sgx["max_threads"] = draw(st.integers(1, 4096))
    for key in ("edmm_enable", "debug", "use_exinfo"):
        if draw(st.booleans()):
            sgx[key] = draw(st.booleans())
    for key in ("isvprodid", "isvsvn"):
        if draw(st.booleans()):
            sgx[key] = draw(st.integers(0, 65535))
    cpu = {}
    for f in CPU:
        if draw(st.booleans()):
            choices = ["required", "disabled"]
            if f not in ("mpx", "pkru"):
                choices.append("unspecified")
            cpu[f] = draw(st.sampled_from(choices))
    if cpu:
        sgx["cpu_features"] = cpu
    if trusted_paths or draw(st.booleans()):
        sgx["trusted_files"] = [{"uri": "file:" + p, "sha256": draw(SHA)} for p in trusted_paths]
    allowed = draw(st.lists(PATH, max_size=4, unique=True))
    if allowed or draw(st.booleans()):
        sgx["allowed_files"] = ["file:" + p for p in allowed]
    if draw(st.booleans()):
        sgx["file_check_policy"] = draw(st.sampled_from(["strict", "allow_all_but_log"]))
    if draw(st.booleans()):
        sgx["remote_attestation"] = draw(st.sampled_from(["none", "epid", "dcap"]))
    if draw(st.booleans()):
        sgx["profile"] = {"enable": "all", "with_stack": True, "frequency": -7}
    if sgx:
        doc["sgx"] = sgx
    gsc: dict[str, Any] = {}
    if draw(st.booleans()):
        gsc["container_config"] = draw(ANY_TEXT)
    if draw(st.booleans()):
        gsc["insecure__allow_no_landlock"] = draw(st.booleans())
    if draw(st.booleans()):
        gsc["verify_trusted_files"] = draw(st.sampled_from(["on_first_use", "at_launch"]))
    links = draw(st.lists(PATH, max_size=3, unique=True))
    trusted_set = set(trusted_paths)
    links = [p for p in links if p not in trusted_set
             and not any(t.startswith(p + "/") for t in trusted_set)]
    readonly = draw(st.lists(PATH, max_size=3, unique=True))
    if readonly or draw(st.booleans()):
        gsc["readonly_files"] = ["file:" + p for p in readonly]
    executables = [p for p in trusted_paths if draw(st.booleans())]
    if executables or draw(st.booleans()):
        gsc["executables"] = ["file:" + p for p in executables]
    if links or draw(st.booleans()):
        gsc["symlinks"] = [{"path": p, "target": draw(ANY_TEXT.filter(bool))} for p in links]
    if gsc:
        doc["gsc"] = gsc
    if draw(st.booleans()):
        doc["sys"] = {
            "stack": {"size": "1M"},
            "odd": [{"a b": 1, "c": "x"}, 3, "s", False],
            "empty": [],
        }
    return doc
