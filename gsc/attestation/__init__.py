"""SGX DCAP quote and RA-TLS verification for relying parties, and gsc's simulated quoting
stack for testing attestation flows without SGX hardware.

    from gsc.attestation import verify_quote, Policy, load_collateral
    result = verify_quote(quote_bytes, load_collateral(json_bytes), Policy(mrenclave=...))
    if result.accepted: ...
"""

from __future__ import annotations

from gsc.attestation.collateral import Collateral, collateral_from_json, load_collateral
from gsc.attestation.errors import CollateralError, QuoteFormatError
from gsc.attestation.quote import Quote, ReportBody, parse_quote
from gsc.attestation.verify import Policy, Result, verify_quote

__all__ = [
    "Collateral",
    "CollateralError",
    "Policy",
    "Quote",
    "QuoteFormatError",
    "ReportBody",
    "Result",
    "collateral_from_json",
    "load_collateral",
    "parse_quote",
    "verify_quote",
]
