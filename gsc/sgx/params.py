"""The `[sgx]` settings: the one owner of their rules, limits, CPU features and defaults
(sgx-measurement.md, 1 and 4). `gsc.manifest.schema` validates `[sgx]` with
`sgx_problem`; `SgxParams` builds the values that enter MRENCLAVE and the SIGSTRUCT. The
strict C reader (runtime/core/manifest.c) implements the same rules."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gsc.errors import InputError

DEFAULT_ENCLAVE_SIZE = "256M"
DEFAULT_ENCLAVE_SIZE_EDMM = "1024G"
DEFAULT_MAX_THREADS = 4
MAX_THREADS_LIMIT = 4096

# (name, XFRM bits, may be "unspecified", default), in the order they are applied.
CPU_FEATURES: tuple[tuple[str, int, bool, str], ...] = (
    ("avx", 0x4, True, "unspecified"),
    ("avx512", 0xE4, True, "unspecified"),
    ("amx", 0x60000, True, "unspecified"),
    ("mpx", 0x18, False, "disabled"),
    ("pkru", 0x200, False, "disabled"),
)
XFRM_BASE = 0x3
XFRM_MASK_BASE = 0xFFFFFFFFFFF9FF1B
ATTR_FLAG_DEBUG = 0x2
ATTR_FLAG_MODE64 = 0x4

ISV_LIMIT = 0xFFFF
FILE_CHECK_POLICIES = ("strict", "allow_all_but_log")
REMOTE_ATTESTATION = ("none", "epid", "dcap")
BOOL_KEYS = ("edmm_enable", "debug", "use_exinfo")
INT_KEYS: dict[str, tuple[int, int]] = {
    "max_threads": (1, MAX_THREADS_LIMIT), "isvprodid": (0, ISV_LIMIT), "isvsvn": (0, ISV_LIMIT),
}
# Every scalar [sgx] key gsc honours (dotted below sgx.); the file lists are the schema's.
SCALAR_KEYS = ("enclave_size", "max_threads", *BOOL_KEYS, "isvprodid", "isvsvn",
               *(f"cpu_features.{name}" for name, _, _, _ in CPU_FEATURES),
               "file_check_policy", "remote_attestation")


def feature_states(name: str) -> tuple[str, ...]:
    """The values CPU feature ``name`` may take."""
    three = next(t for n, _, t, _ in CPU_FEATURES if n == name)
    return ("required", "disabled", "unspecified") if three else ("required", "disabled")


def type_name(value: Any) -> str:
    """"a string", "an integer", ... for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def sgx_problem(key: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the scalar key sgx.``key`` (one of SCALAR_KEYS);
    None when it is valid."""
    if key == "enclave_size":
        if not isinstance(value, str):
            return f"must be a string, not {type_name(value)}"
        if parse_enclave_size(value) is None:
            return f"{value!r} is not a power of two written as digits with optional K/M/G"
        return None
    if key in BOOL_KEYS:
        return None if isinstance(value, bool) else \
            f"must be true or false, not {type_name(value)}"
    if key in INT_KEYS:
        lo, hi = INT_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, not {type_name(value)}"
        return None if lo <= value <= hi else f"must be between {lo} and {hi}"
    if key == "remote_attestation":
        if isinstance(value, bool):   # older Gramine manifests: true means DCAP
            return None
        choices: tuple[str, ...] = REMOTE_ATTESTATION
    elif key.startswith("cpu_features."):
        choices = feature_states(key.split(".", 1)[1])
    else:
        choices = FILE_CHECK_POLICIES
    if not isinstance(value, str):
        return f"must be a string, not {type_name(value)}"
    if value not in choices:
        return f"must be one of {', '.join(choices)}, not {value!r}"
    return None


_SIZE_RE = re.compile(r"[0-9]+[KMG]?")
_SHIFT = {"K": 10, "M": 20, "G": 30}


def parse_enclave_size(text: str) -> int | None:
    """Digits with an optional upper-case K/M/G suffix, nonzero power of two; else None.

    Same rules as the C core's gsc_parse_enclave_size (tests check they agree)."""
    if not _SIZE_RE.fullmatch(text):
        return None
    shift = _SHIFT.get(text[-1], 0)
    digits = text[:-1] if shift else text
    value = int(digits) << shift
    if value <= 0 or value & (value - 1) or value >= 1 << 64:
        return None
    return value


def _fail(source: str, key: str, why: str) -> InputError:
    return InputError(f"{source}: sgx.{key}: {why}")


def _checked(sgx: Mapping[str, Any], key: str, source: str, default: Any) -> Any:
    value = sgx.get(key, default)
    problem = sgx_problem(key, value)
    if problem is not None:
        raise _fail(source, key, problem)
    return value


def _bool(sgx: Mapping[str, Any], key: str, source: str) -> bool:
    return bool(_checked(sgx, key, source, False))


def _int(sgx: Mapping[str, Any], key: str, source: str, default: int) -> int:
    return int(_checked(sgx, key, source, default))


@dataclass(frozen=True)
class SgxParams:
    """Measured and signed enclave settings, with the defaults of sgx-measurement.md."""

    enclave_size: int = 256 << 20
    max_threads: int = DEFAULT_MAX_THREADS
    edmm_enable: bool = False
    debug: bool = False
    use_exinfo: bool = False
    isvprodid: int = 0
    isvsvn: int = 0
    cpu_features: dict[str, str] = field(
        default_factory=lambda: {name: default for name, _, _, default in CPU_FEATURES}
    )

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_manifest_bytes(cls, data: bytes, source: str = "manifest") -> SgxParams:
        """Parse the `[sgx]` table of a manifest file's exact bytes."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{source}: manifest is not UTF-8 (byte {exc.start})") from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{source}: manifest is not valid TOML: {exc}") from None
        sgx = doc.get("sgx", {})
        if not isinstance(sgx, Mapping):
            raise InputError(f"{source}: sgx must be a table")
        return cls.from_table(sgx, source)

    @classmethod
    def from_table(cls, sgx: Mapping[str, Any], source: str = "manifest") -> SgxParams:
        """Build from an already parsed `[sgx]` table (unknown keys are ignored here)."""
        if not isinstance(sgx, Mapping):
            raise InputError(f"{source}: sgx must be a table")
        edmm = _bool(sgx, "edmm_enable", source)
        raw_size = _checked(sgx, "enclave_size", source,
                            DEFAULT_ENCLAVE_SIZE_EDMM if edmm else DEFAULT_ENCLAVE_SIZE)
        size = parse_enclave_size(raw_size)
        assert size is not None
        threads = _int(sgx, "max_threads", source, DEFAULT_MAX_THREADS)
        features = _cpu_features(sgx.get("cpu_features", {}), source)
        return cls(
            enclave_size=size,
            max_threads=threads,
            edmm_enable=edmm,
            debug=_bool(sgx, "debug", source),
            use_exinfo=_bool(sgx, "use_exinfo", source),
            isvprodid=_int(sgx, "isvprodid", source, 0),
            isvsvn=_int(sgx, "isvsvn", source, 0),
            cpu_features=features,
        )

    # ------------------------------------------------------------------ derived values
    @property
    def attributes_flags(self) -> int:
        return ATTR_FLAG_MODE64 | (ATTR_FLAG_DEBUG if self.debug else 0)

    @property
    def misc_select(self) -> int:
        return 1 if self.use_exinfo else 0

    def xfrm(self) -> tuple[int, int]:
        """(attributes.xfrm, attributemask.xfrm), features applied in the fixed order."""
        value, mask = XFRM_BASE, XFRM_MASK_BASE
        for name, bits, _, default in CPU_FEATURES:
            state = self.cpu_features.get(name, default)
            if state == "required":
                value |= bits
                mask |= bits
            elif state == "disabled":
                value &= ~bits
                mask |= bits
        return value, mask


def _cpu_features(table: Any, source: str) -> dict[str, str]:
    if not isinstance(table, Mapping):
        raise _fail(source, "cpu_features", "must be a table")
    known = {name for name, _, _, _ in CPU_FEATURES}
    for key in table:
        if key not in known:
            raise _fail(
                source, f"cpu_features.{key}", f"unknown CPU feature (known: {sorted(known)})"
            )
    result: dict[str, str] = {}
    for name, _, _, default in CPU_FEATURES:
        value = table.get(name, default)
        problem = sgx_problem(f"cpu_features.{name}", value)
        if problem is not None:
            raise _fail(source, f"cpu_features.{name}", problem)
        result[name] = value
    return result
