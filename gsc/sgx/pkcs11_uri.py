"""PKCS#11 URIs (RFC 7512) naming an SGX signing key in a token.

    pkcs11:token=LABEL;object=LABEL[;id=%01%02][;type=private]
           [?module-path=/path/lib.so][&pin-source=file:/path/to/pin]

Path attributes (before `?`, separated by `;`) select the token and the key; query
attributes (after `?`, separated by `&`) say how to reach it. Values are percent-decoded.
`pin-value` is refused: a PIN inside a URI ends up in argv, shell history and CI logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from gsc.errors import InputError

SCHEME = "pkcs11:"

# Attributes gsc uses; anything else is refused so a typo never selects a different key.
_PATH_ATTRS = frozenset(
    {"token", "object", "id", "type", "serial", "manufacturer", "model", "slot-id"}
)
_QUERY_ATTRS = frozenset({"module-path", "pin-source"})
_TYPES = frozenset({"private", "public", "cert", "secret-key", "data"})
# RFC 3986 unreserved plus the characters RFC 7512 allows unencoded in path values.
_SAFE_PATH = ":[]@!$'()*+,="


def is_pkcs11_uri(spec: object) -> bool:
    return isinstance(spec, str) and spec[: len(SCHEME)].lower() == SCHEME


@dataclass(frozen=True)
class Pkcs11Uri:
    token: str | None = None
    object: str | None = None
    id: bytes | None = None
    type: str | None = None
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    slot_id: int | None = None
    module_path: str | None = None
    pin_source: str | None = None

    def key_uri(self) -> str:
        """The URI of this key for -k: token, label, id, and the query as given."""
        parts: list[str] = []
        if self.token is not None:
            parts.append("token=" + quote(self.token, safe=_SAFE_PATH))
        if self.serial is not None:
            parts.append("serial=" + quote(self.serial, safe=_SAFE_PATH))
        if self.object is not None:
            parts.append("object=" + quote(self.object, safe=_SAFE_PATH))
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        parts.append("type=private")
        query: list[str] = []
        if self.module_path is not None:
            query.append("module-path=" + quote(self.module_path, safe="/" + _SAFE_PATH))
        if self.pin_source is not None:
            query.append("pin-source=" + quote(self.pin_source, safe="/" + _SAFE_PATH))
        return SCHEME + ";".join(parts) + ("?" + "&".join(query) if query else "")


def _decode(value: str, name: str) -> bytes:
    if "%" in value:
        # Every % must start a two-digit escape.
        i = value.find("%")
        while i != -1:
            if len(value) < i + 3 or not all(
                c in "0123456789abcdefABCDEF" for c in value[i + 1 : i + 3]
            ):
                raise InputError(f"PKCS#11 URI: attribute {name}: bad percent-encoding")
            i = value.find("%", i + 3)
    return unquote_to_bytes(value)


def _text(value: str, name: str) -> str:
    try:
        return _decode(value, name).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"PKCS#11 URI: attribute {name}: not UTF-8") from None


def parse(spec: str) -> Pkcs11Uri:
    """Parse a `pkcs11:` key reference; InputError (one line, no secrets) otherwise."""
    if not is_pkcs11_uri(spec):
        raise InputError("not a PKCS#11 URI (must start with pkcs11:)")
    body = spec[len(SCHEME) :]
    if "#" in body:
        raise InputError("PKCS#11 URI: fragments (#...) are not allowed")
    path, _, query = body.partition("?")
    values: dict[str, str] = {}
    for part in filter(None, path.split(";")):
        name, eq, value = part.partition("=")
        name = name.lower()
        if not eq:
            raise InputError(f"PKCS#11 URI: path attribute {name!r} has no value")
        if name in ("pin-value", "pin-source", "module-path", "module-name"):
            raise InputError(
                f"PKCS#11 URI: {name} is a query attribute: write it after '?', e.g. "
                "pkcs11:token=T;object=K?pin-source=file:/path"
                if name != "pin-value"
                else "PKCS#11 URI: pin-value is refused (the PIN would be on the command "
                "line); use pin-source=file:/path or GSC_PKCS11_PIN"
            )
        if name not in _PATH_ATTRS:
            raise InputError(f"PKCS#11 URI: unsupported path attribute {name!r}")
        if name in values:
            raise InputError(f"PKCS#11 URI: attribute {name} given twice")
        values[name] = value
    for part in filter(None, query.split("&")):
        name, eq, value = part.partition("=")
        name = name.lower()
        if name == "pin-value":
            raise InputError(
                "PKCS#11 URI: pin-value is refused (the PIN would be on the command line); "
                "use pin-source=file:/path or GSC_PKCS11_PIN"
            )
        if not eq:
            raise InputError(f"PKCS#11 URI: query attribute {name!r} has no value")
        if name not in _QUERY_ATTRS:
            raise InputError(f"PKCS#11 URI: unsupported query attribute {name!r}")
        if name in values:
            raise InputError(f"PKCS#11 URI: attribute {name} given twice")
        values[name] = value

    slot_id: int | None = None
    if "slot-id" in values:
        raw = _text(values["slot-id"], "slot-id")
        if not raw.isdigit():
            raise InputError("PKCS#11 URI: slot-id must be a decimal number")
        slot_id = int(raw)
    kind = _text(values["type"], "type") if "type" in values else None
    if kind is not None and kind not in _TYPES:
        raise InputError(f"PKCS#11 URI: unknown object type {kind!r}")
    if kind is not None and kind != "private":
        raise InputError(f"PKCS#11 URI: type={kind}: an SGX signing key is type=private")
    uri = Pkcs11Uri(
        token=_text(values["token"], "token") if "token" in values else None,
        object=_text(values["object"], "object") if "object" in values else None,
        id=_decode(values["id"], "id") if "id" in values else None,
        type=kind,
        serial=_text(values["serial"], "serial") if "serial" in values else None,
        manufacturer=(
            _text(values["manufacturer"], "manufacturer") if "manufacturer" in values else None
        ),
        model=_text(values["model"], "model") if "model" in values else None,
        slot_id=slot_id,
        module_path=_text(values["module-path"], "module-path")
        if "module-path" in values
        else None,
        pin_source=_text(values["pin-source"], "pin-source") if "pin-source" in values else None,
    )
    if uri.object is None and uri.id is None:
        raise InputError("PKCS#11 URI: name the key with object=LABEL (or id=%..)")
    if uri.id is not None and not uri.id:
        raise InputError("PKCS#11 URI: id is empty")
    return uri
