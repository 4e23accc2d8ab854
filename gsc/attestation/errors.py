"""The attestation package's own exceptions."""

from __future__ import annotations


class QuoteFormatError(ValueError):
    """The quote bytes are not a well-formed SGX DCAP ECDSA quote v3."""


class CollateralError(ValueError):
    """The collateral is missing a field, or a field is malformed."""
