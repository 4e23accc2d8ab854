"""MRENCLAVE of (manifest bytes, PAL ELF) through the C core shared with the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from gsc.errors import InputError
from gsc.sgx.native import core, err_text
from gsc.sgx.params import SgxParams

_ERRLEN = 256


@dataclass(frozen=True)
class EnclaveLayout:
    """Where each area lives (byte addresses; the enclave base is 0)."""

    enclave_size: int
    max_threads: int
    manifest_base: int
    manifest_size: int
    ssa_base: int
    tcs_base: int
    tls_base: int
    stack_low: int
    sig_stack_low: int
    pal_base: int
    pal_size: int
    free_base: int
    free_size: int


def _params(ffi: object, params: SgxParams) -> object:
    p = ffi.new("gsc_enclave_params *")  # type: ignore[attr-defined]
    p.enclave_size = params.enclave_size
    p.max_threads = params.max_threads
    p.edmm_enable = 1 if params.edmm_enable else 0
    return p


def measure_with_layout(
    manifest: bytes, pal: bytes, params: SgxParams
) -> tuple[bytes, EnclaveLayout]:
    """MRENCLAVE and the enclave layout. InputError (with the C message) on bad input."""
    ffi, lib = core()
    out = ffi.new("uint8_t[32]")
    lay = ffi.new("gsc_layout *")
    err = ffi.new(f"char[{_ERRLEN}]")
    rc = lib.gsc_measure_layout(
        ffi.from_buffer("uint8_t[]", manifest),
        len(manifest),
        ffi.from_buffer("uint8_t[]", pal),
        len(pal),
        _params(ffi, params),
        lay,
        out,
        err,
        _ERRLEN,
    )
    if rc != lib.GSC_OK:
        raise InputError(err_text(ffi, err) or f"measurement failed (code {rc})")
    layout = EnclaveLayout(
        **{name: int(getattr(lay, name)) for name in EnclaveLayout.__dataclass_fields__}
    )
    return bytes(ffi.buffer(out, 32)), layout


def mrenclave(manifest: bytes, pal: bytes, params: SgxParams) -> bytes:
    """The 32-byte MRENCLAVE of the exact manifest bytes and PAL with these parameters."""
    return measure_with_layout(manifest, pal, params)[0]


def measure_manifest(manifest: bytes, pal: bytes, source: str = "manifest") -> bytes:
    """Parse `[sgx]` from the manifest bytes themselves, then measure."""
    return mrenclave(manifest, pal, SgxParams.from_manifest_bytes(manifest, source))


def check_pal(pal: bytes, source: str = "PAL") -> int:
    """Validate a PAL ELF; return the size of its enclave area. InputError if unusable."""
    ffi, lib = core()
    size = ffi.new("uint64_t *")
    err = ffi.new(f"char[{_ERRLEN}]")
    rc = lib.gsc_pal_check(ffi.from_buffer("uint8_t[]", pal), len(pal), size, err, _ERRLEN)
    if rc != lib.GSC_OK:
        raise InputError(f"{source}: {err_text(ffi, err)}")
    return int(size[0])


def parse_enclave_size_c(text: str) -> int | None:
    """The C core's enclave_size parser (None when invalid)."""
    ffi, lib = core()
    if "\0" in text:
        return None
    out = ffi.new("uint64_t *")
    rc = lib.gsc_parse_enclave_size(text.encode("utf-8"), out)
    return int(out[0]) if rc == lib.GSC_OK else None
