"""The `[sgx]` settings that enter MRENCLAVE and the SIGSTRUCT (sgx-measurement.md, 1 and 4)."""

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


def _bool(sgx: Mapping[str, Any], key: str, source: str) -> bool:
    value = sgx.get(key, False)
    if not isinstance(value, bool):
        raise _fail(source, key, f"must be true or false, not {value!r}")
    return value


def _int(sgx: Mapping[str, Any], key: str, source: str, default: int, lo: int, hi: int) -> int:
    value = sgx.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(source, key, f"must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise _fail(source, key, f"must be between {lo} and {hi}, not {value}")
    return value


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
        raw_size = sgx.get(
            "enclave_size", DEFAULT_ENCLAVE_SIZE_EDMM if edmm else DEFAULT_ENCLAVE_SIZE
        )
        if not isinstance(raw_size, str):
            raise _fail(
                source, "enclave_size", f'must be a string such as "256M", not {raw_size!r}'
            )
        size = parse_enclave_size(raw_size)
        if size is None:
            raise _fail(
                source,
                "enclave_size",
                f"{raw_size!r} is not a nonzero power of two (digits with optional K/M/G)",
            )
        threads = _int(sgx, "max_threads", source, DEFAULT_MAX_THREADS, 1, MAX_THREADS_LIMIT)
        features = _cpu_features(sgx.get("cpu_features", {}), source)
        return cls(
            enclave_size=size,
            max_threads=threads,
            edmm_enable=edmm,
            debug=_bool(sgx, "debug", source),
            use_exinfo=_bool(sgx, "use_exinfo", source),
            isvprodid=_int(sgx, "isvprodid", source, 0, 0, 0xFFFF),
            isvsvn=_int(sgx, "isvsvn", source, 0, 0, 0xFFFF),
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
    for name, _, three_state, default in CPU_FEATURES:
        value = table.get(name, default)
        allowed = (
            ("required", "disabled", "unspecified") if three_state else ("required", "disabled")
        )
        if value not in allowed:
            raise _fail(
                source,
                f"cpu_features.{name}",
                f"must be one of {', '.join(allowed)}, not {value!r}",
            )
        result[name] = value
    return result
