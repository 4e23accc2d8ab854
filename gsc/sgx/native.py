"""Access to the cffi-built C core (`gsc._native`), with a clear error when it is missing."""

from __future__ import annotations

from typing import Any

from gsc.errors import GscError


def core() -> tuple[Any, Any]:
    """Return (ffi, lib) of gsc._native."""
    try:
        import gsc._native as _native
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise GscError(
            "the native core gsc._native is not built "
            f"(run: python setup.py build_ext --inplace): {exc}"
        ) from None
    return _native.ffi, _native.lib


def err_text(ffi: Any, buf: Any) -> str:
    text: bytes = ffi.string(buf)
    return text.decode("utf-8", "replace")
