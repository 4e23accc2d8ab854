"""Fetch quote collateral from a PCCS or Intel PCS-compatible service (API v4), with an
on-disk cache in the user's cache directory.

Paths (relative to URL, which may or may not already end in /sgx/certification/v4):
    tcb?fmspc=HEX               {"tcbInfo": {...}, "signature": "hex"}; issuer chain in
                                TCB-Info-Issuer-Chain (or SGX-TCB-Info-Issuer-Chain)
    qe/identity                 {"enclaveIdentity": {...}, "signature": "hex"}; chain in
                                SGX-Enclave-Identity-Issuer-Chain
    pckcrl?ca=platform|processor&encoding=der
                                the PCK CRL; chain in SGX-PCK-CRL-Issuer-Chain
    rootcacrl                   the root CA CRL (DER, PEM or hex-encoded DER)
Issuer chains are URL-encoded PEM, as PCS sends them. Nothing fetched is trusted: the
collateral is verified exactly like `--collateral`. The signed JSON objects are cut out of
the response bodies byte for byte, never re-serialised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gsc.attestation.collateral import Collateral, collateral_from_json, parse_time
from gsc.attestation.errors import CollateralError

API_SUFFIX = "/sgx/certification/v4"
MAX_BODY = 1 << 20
TIMEOUT = 30


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gsc" / "collateral"


def _base(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CollateralError(f"--pccs URL must be http(s)://HOST[:PORT][/path], not {url!r}")
    base = url.rstrip("/")
    if not base.endswith(API_SUFFIX):
        base += API_SUFFIX
    return base


def _get(url: str) -> tuple[bytes, dict[str, str]]:
    req = urllib.request.Request(url, headers={"Accept": "*/*"})  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310
            body = resp.read(MAX_BODY + 1)
            headers = {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        raise CollateralError(f"PCCS {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CollateralError(f"PCCS {url}: {exc}") from None
    if len(body) > MAX_BODY:
        raise CollateralError(f"PCCS {url}: response larger than {MAX_BODY} bytes")
    return body, headers


def _chain(headers: dict[str, str], names: tuple[str, ...], url: str) -> str:
    for n in names:
        if n.lower() in headers:
            return urllib.parse.unquote(headers[n.lower()])
    raise CollateralError(f"PCCS {url}: response lacks the {names[0]} header")


def top_level_members(text: str) -> dict[str, str]:
    """The exact source text of each member value of a top-level JSON object."""
    dec = json.JSONDecoder()
    i = 0
    n = len(text)

    def ws(j: int) -> int:
        while j < n and text[j] in " \t\r\n":
            j += 1
        return j

    i = ws(i)
    if i >= n or text[i] != "{":
        raise CollateralError("PCCS response is not a JSON object")
    i = ws(i + 1)
    out: dict[str, str] = {}
    if i < n and text[i] == "}":
        return out
    while True:
        if i >= n or text[i] != '"':
            raise CollateralError("PCCS response: malformed JSON object")
        try:
            key, i = dec.raw_decode(text, i)
        except ValueError:
            raise CollateralError("PCCS response: malformed JSON key") from None
        if not isinstance(key, str):
            raise CollateralError("PCCS response: malformed JSON key")
        i = ws(i)
        if i >= n or text[i] != ":":
            raise CollateralError("PCCS response: malformed JSON object")
        i = ws(i + 1)
        try:
            _, end = dec.raw_decode(text, i)
        except (ValueError, RecursionError):
            raise CollateralError("PCCS response: malformed JSON value") from None
        out[key] = text[i:end]
        i = ws(end)
        if i < n and text[i] == ",":
            i = ws(i + 1)
            continue
        if i < n and text[i] == "}" and not text[i + 1 :].strip():
            return out
        raise CollateralError("PCCS response: malformed JSON object")


def _signed(body: bytes, member: str, url: str) -> tuple[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CollateralError(f"PCCS {url}: response is not UTF-8") from None
    members = top_level_members(text)
    if member not in members or "signature" not in members:
        raise CollateralError(f"PCCS {url}: response lacks {member!r} or 'signature'")
    try:
        sig = json.loads(members["signature"])
    except (ValueError, RecursionError):
        raise CollateralError(f"PCCS {url}: malformed signature") from None
    if not isinstance(sig, str):
        raise CollateralError(f"PCCS {url}: signature is not a string")
    return members[member], sig


def _crl_der(body: bytes, url: str) -> str:
    """A CRL body as hex DER, whether it came as DER, PEM or hex text."""
    stripped = body.strip()
    if stripped.startswith(b"-----BEGIN X509 CRL-----"):
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            return x509.load_pem_x509_crl(stripped).public_bytes(Encoding.DER).hex()
        except ValueError:
            raise CollateralError(f"PCCS {url}: malformed PEM CRL") from None
    if stripped[:1] == b"0" or stripped[:1].isalnum():
        try:
            return bytes.fromhex(stripped.decode("ascii")).hex()
        except (ValueError, UnicodeDecodeError):
            pass
    return body.hex()


def fetch_collateral(url: str, fmspc: bytes, ca: str) -> dict[str, Any]:
    """Collateral JSON (the keys of --collateral) fetched from a PCCS/PCS v4 service."""
    if ca not in ("platform", "processor"):
        raise CollateralError(f"unknown PCK CA {ca!r}")
    base = _base(url)
    tcb_url = f"{base}/tcb?fmspc={fmspc.hex().upper()}"
    body, hdr = _get(tcb_url)
    tcb_info, tcb_sig = _signed(body, "tcbInfo", tcb_url)
    tcb_chain = _chain(hdr, ("TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"), tcb_url)
    qe_url = f"{base}/qe/identity"
    body, hdr = _get(qe_url)
    qe_identity, qe_sig = _signed(body, "enclaveIdentity", qe_url)
    qe_chain = _chain(hdr, ("SGX-Enclave-Identity-Issuer-Chain",), qe_url)
    crl_url = f"{base}/pckcrl?ca={ca}&encoding=der"
    body, hdr = _get(crl_url)
    pck_crl = _crl_der(body, crl_url)
    crl_chain = _chain(hdr, ("SGX-PCK-CRL-Issuer-Chain",), crl_url)
    root_url = f"{base}/rootcacrl"
    body, _ = _get(root_url)
    root_crl = _crl_der(body, root_url)
    return {
        "pck_crl_issuer_chain": crl_chain,
        "root_ca_crl": root_crl,
        "pck_crl": pck_crl,
        "tcb_info_issuer_chain": tcb_chain,
        "tcb_info": tcb_info,
        "tcb_info_signature": tcb_sig,
        "qe_identity_issuer_chain": qe_chain,
        "qe_identity": qe_identity,
        "qe_identity_signature": qe_sig,
    }


def _fresh(obj: dict[str, Any], now: dt.datetime) -> bool:
    """Whether cached collateral is still worth using at `now` (it is verified anyway)."""
    try:
        for key in ("tcb_info", "qe_identity"):
            inner = json.loads(obj[key])
            if parse_time(inner.get("nextUpdate"), key) < now:
                return False
    except (KeyError, ValueError, TypeError, AttributeError, RecursionError, CollateralError):
        return False
    return True


def get_collateral(
    url: str, fmspc: bytes, ca: str, now: dt.datetime, *, use_cache: bool = True
) -> Collateral:
    key = hashlib.sha256(f"{_base(url)}|{fmspc.hex()}|{ca}".encode()).hexdigest()[:32]
    d = cache_dir()
    path = d / f"{key}.json"
    if use_cache:
        try:
            cached = json.loads(path.read_bytes())
            if isinstance(cached, dict) and _fresh(cached, now):
                return collateral_from_json(cached)
        except (OSError, ValueError, RecursionError, CollateralError):
            pass
    obj = fetch_collateral(url, fmspc, ca)
    coll = collateral_from_json(obj)  # validates the shape before caching
    if use_cache:
        _store(d, path, obj)
    return coll


def _store(d: Path, path: Path, obj: dict[str, Any]) -> None:
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(obj, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass  # a cache that cannot be written is not an error
