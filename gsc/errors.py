"""Errors that the CLI turns into one-line messages and exit statuses.

Exit statuses (design.md contract): 0 success; 1 verification or policy failure;
2 usage or input error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_VERIFY = 1
EXIT_USAGE = 2


class GscError(Exception):
    """An expected failure with a one-line, user-facing message."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class InputError(GscError):
    """Bad input: a missing or malformed file, image, key, manifest or flag (exit 2)."""

    exit_code = EXIT_USAGE


class VerificationError(GscError):
    """A signature, measurement, hash or policy check failed (exit 1)."""

    exit_code = EXIT_VERIFY
