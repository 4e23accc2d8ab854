"""`gsc verify-quote QUOTE`: complete SGX DCAP quote v3 verification and policy.

The options are shared with `gsc verify-ratls` (see verify_ratls.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path
from typing import Any

from gsc.errors import EXIT_OK, EXIT_VERIFY, InputError
from gsc.output import emit_json, say

_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
_STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
)


def add_verification_options(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--collateral", metavar="FILE",
                     help="collateral JSON (keys of sgx_quote_collateral.json)")
    src.add_argument("--pccs", metavar="URL",
                     help="fetch collateral from a PCCS / Intel PCS v4 service (cached)")
    p.add_argument("--root", metavar="CERT",
                   help="trusted root CA (PEM or DER) instead of the pinned Intel SGX Root CA")
    p.add_argument("--now", metavar="ISO8601", help="evaluation time (default: now)")
    p.add_argument("--mrenclave", metavar="HEX", help="expected MRENCLAVE")
    p.add_argument("--mrsigner", metavar="HEX", help="expected MRSIGNER")
    p.add_argument("--isvprodid", metavar="N", type=_u16, help="expected ISVPRODID")
    p.add_argument("--min-isvsvn", metavar="N", type=_u16, help="minimum ISVSVN")
    p.add_argument("--report-data", metavar="HEX",
                   help="expected report data (up to 64 bytes, zero-padded)")
    p.add_argument("--allow-debug", action="store_true", help="accept DEBUG enclaves")
    p.add_argument("--accept", metavar="STATUS", action="append", default=[],
                   choices=_STATUSES,
                   help="also accept this TCB status (repeatable; UpToDate always is)")
    p.add_argument("--image", metavar="IMG",
                   help="expect the identity of this gsc image (verified first)")
    p.add_argument("--allow-simulated", action="store_true",
                   help="accept quotes from gsc's SIMULATED quoting stack (TESTING ONLY: "
                   "they prove nothing about hardware)")
    p.add_argument("--no-cache", action="store_true", help="with --pccs: do not use the cache")
    p.add_argument("--json", action="store_true")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify-quote",
        help="verify an SGX DCAP quote (v3) and a relying party's policy",
        description="Verify an SGX DCAP ECDSA quote v3 completely (PCK chain to the Intel SGX "
        "Root CA, CRLs, TCB info, QE identity, signatures, TCB status), then the policy. "
        "Exit 0 accepted, 1 rejected, 2 bad input.",
    )
    p.add_argument("quote", metavar="QUOTE")
    add_verification_options(p)
    p.set_defaults(run=run)
    return p


def _u16(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= v <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text} is not a 16-bit number")
    return v


def _hex32(args: argparse.Namespace, name: str) -> bytes | None:
    v = getattr(args, name)
    if v is None:
        return None
    if not _HEX.match(v) or len(v) != 64:
        raise InputError(f"--{name} must be 64 hexadecimal digits")
    return bytes.fromhex(v)


def read_input(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def parse_now(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now {text!r} is not an ISO 8601 time") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


class Settings:
    """Everything the options say, checked (InputError on bad input)."""

    def __init__(self, args: argparse.Namespace) -> None:
        from gsc.attestation import Policy, load_collateral
        from gsc.attestation.errors import CollateralError
        from gsc.attestation.trust import load_root

        self.now = parse_now(args.now)
        self.root: Any = None
        if args.root:
            try:
                self.root = load_root(read_input(args.root, "root certificate"))
            except ValueError:
                raise InputError(f"--root {args.root} is not a PEM or DER certificate") from None
        self.collateral: Any = None
        if args.collateral:
            try:
                self.collateral = load_collateral(read_input(args.collateral, "collateral"))
            except CollateralError as exc:
                raise InputError(f"--collateral {args.collateral}: {exc}") from None
        self.pccs: str | None = args.pccs
        self.use_cache = not args.no_cache
        rd = args.report_data
        if rd is not None and (not _HEX.match(rd) or len(rd) > 128):
            raise InputError("--report-data must be at most 64 bytes of hexadecimal")
        mrenclave, mrsigner = _hex32(args, "mrenclave"), _hex32(args, "mrsigner")
        isvprodid = args.isvprodid
        if args.image:
            from gsc.attestation.image_identity import image_identity

            ident = image_identity(args.image)
            for name, given, have in (("mrenclave", mrenclave, ident.mrenclave),
                                      ("mrsigner", mrsigner, ident.mrsigner)):
                if given is not None and given != have:
                    raise InputError(f"--{name} contradicts --image {args.image}")
            if isvprodid is not None and isvprodid != ident.isvprodid:
                raise InputError(f"--isvprodid contradicts --image {args.image}")
            mrenclave, mrsigner, isvprodid = ident.mrenclave, ident.mrsigner, ident.isvprodid
        self.allow_simulated = bool(args.allow_simulated)
        self.policy = Policy(
            mrenclave=mrenclave,
            mrsigner=mrsigner,
            isvprodid=isvprodid,
            min_isvsvn=args.min_isvsvn,
            report_data=bytes.fromhex(rd) if rd is not None else None,
            allow_debug=bool(args.allow_debug),
            accept=frozenset(args.accept),
            allow_simulated=self.allow_simulated,
        )
        self.have_source = bool(args.collateral or args.pccs)

    def collateral_for(self, quote: bytes) -> Any:
        """The collateral to verify `quote` with (fetched for --pccs); None when the quote's
        own chain decides (simulated stack) or cannot even be parsed."""
        if self.collateral is not None or not self.pccs:
            return self.collateral
        from gsc.attestation.errors import CollateralError
        from gsc.attestation.pccs import get_collateral
        from gsc.attestation.verify import collateral_hints

        hints = collateral_hints(quote)
        if hints is None:
            return None  # verification reports the parse / chain failure
        fmspc, ca = hints
        try:
            return get_collateral(self.pccs, fmspc, ca, self.now, use_cache=self.use_cache)
        except CollateralError as exc:
            raise InputError(f"--pccs: {exc}") from None


def report(result: Any, label: str, as_json: bool, extra: dict[str, Any] | None = None) -> int:
    obj = result.to_json()
    if extra:
        obj.update(extra)
    prefix = "SIMULATED (proves nothing about hardware): " if result.simulated else ""
    if as_json:
        emit_json(obj)
    if result.accepted:
        say(f"{prefix}{label}: ACCEPTED (status {result.status}"
            + (f", advisories {', '.join(result.advisories)}" if result.advisories else "")
            + ")")
        say(f"{prefix}  mrenclave {result.mrenclave}")
        say(f"{prefix}  mrsigner  {result.mrsigner}")
        say(f"{prefix}  isvprodid {result.isvprodid} isvsvn {result.isvsvn} "
            f"debug {str(result.debug).lower()}")
        return EXIT_OK
    reason = result.reason.removeprefix(prefix)
    say(f"{prefix}{label}: REJECTED at {result.failed_step}: {reason}")
    return EXIT_VERIFY


def run(args: argparse.Namespace) -> int:
    from gsc.attestation import verify_quote

    quote = read_input(args.quote, "quote")
    settings = Settings(args)
    collateral = settings.collateral_for(quote)
    result = verify_quote(quote, collateral, settings.policy, settings.now, root=settings.root)
    if result.failed_step == "collateral" and not settings.have_source:
        raise InputError("no collateral: give --collateral FILE or --pccs URL")
    return report(result, args.quote, args.json)
