"""SGX signing keys inside a PKCS#11 token (an HSM, a smart card, SoftHSM2), through
python-pkcs11.

The private key never leaves the token: gsc asks the token to sign the 256 SIGSTRUCT
bytes (CKM_SHA256_RSA_PKCS, or CKM_RSA_PKCS over the DigestInfo on tokens without it).
Keys made by `gsc gen-key pkcs11:...` are generated inside the token, RSA-3072 with e = 3,
CKA_SENSITIVE and not CKA_EXTRACTABLE.

The PIN comes from the URI's `pin-source=file:/path` or $GSC_PKCS11_PIN, never argv, and
never appears in a message. The module is the URI's `module-path=`, else
$GSC_PKCS11_MODULE, else SoftHSM2's when installed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gsc.errors import InputError
from gsc.files import read_input
from gsc.sgx import keys
from gsc.sgx.pkcs11_uri import Pkcs11Uri, parse

PIN_ENV = "GSC_PKCS11_PIN"
MODULE_ENV = "GSC_PKCS11_MODULE"
SOFTHSM2_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
MAX_PIN_FILE = 4096
# DER DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


# --------------------------------------------------------------------------- inputs


def module_path(uri: Pkcs11Uri) -> str:
    """The PKCS#11 module to load; InputError when none is given or found."""
    path = uri.module_path or os.environ.get(MODULE_ENV) or None
    if path is None:
        for candidate in SOFTHSM2_MODULES:
            if os.path.isfile(candidate):
                return candidate
        raise InputError(
            f"no PKCS#11 module: give module-path=/path/to/module.so in the URI's query "
            f"or set {MODULE_ENV}"
        )
    if not os.path.isabs(path):
        raise InputError(f"PKCS#11 module path {path!r} must be absolute")
    if not os.path.isfile(path):
        raise InputError(f"PKCS#11 module {path} not found")
    return path


def read_pin(uri: Pkcs11Uri) -> str:
    """The user PIN from pin-source=file:... (first line) or $GSC_PKCS11_PIN."""
    if uri.pin_source is not None:
        src = uri.pin_source
        if src.startswith("file://"):
            src = src[len("file://") :]
            if not src.startswith("/"):
                raise InputError("PKCS#11 URI: pin-source file:// URI must have an empty host")
        elif src.startswith("file:"):
            src = src[len("file:") :]
        if not src.startswith("/"):
            raise InputError(
                "PKCS#11 URI: pin-source must be file:/absolute/path (other sources "
                "are not supported)"
            )
        raw = read_input(Path(src), "PIN file", MAX_PIN_FILE)
        line = raw.split(b"\n", 1)[0].rstrip(b"\r")
        if not line:
            raise InputError(f"PIN file {src} is empty")
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"PIN file {src}: not UTF-8") from None
    env = os.environ.get(PIN_ENV)
    if env:
        return env
    raise InputError(
        f"no PIN for the PKCS#11 token: add ?pin-source=file:/path to the URI or set {PIN_ENV}"
    )


# --------------------------------------------------------------------------- token access


def _describe(uri: Pkcs11Uri) -> str:
    if uri.token is not None:
        return f"token {uri.token!r}"
    if uri.serial is not None:
        return f"token with serial {uri.serial!r}"
    return "PKCS#11 token"


def _error(uri: Pkcs11Uri, exc: Exception) -> InputError:
    """A one-line message for a python-pkcs11 exception (class name only: no secrets)."""
    from pkcs11 import exceptions as px

    where = _describe(uri)
    if isinstance(exc, px.PinIncorrect):
        return InputError(f"{where}: wrong PIN (login refused)")
    if isinstance(exc, px.PinLocked):
        return InputError(f"{where}: PIN locked")
    if isinstance(exc, px.PinExpired | px.PinInvalid | px.PinLenRange):
        return InputError(f"{where}: PIN not accepted ({type(exc).__name__})")
    if isinstance(exc, px.TokenNotPresent | px.DeviceRemoved | px.TokenNotRecognised):
        return InputError(f"{where}: token not present")
    if isinstance(exc, px.MechanismInvalid | px.FunctionNotSupported):
        return InputError(f"{where}: the token does not support RSA PKCS#1 v1.5 signing")
    return InputError(f"{where}: PKCS#11 error {type(exc).__name__}")


@contextlib.contextmanager
def _pkcs11_errors(uri: Pkcs11Uri) -> Iterator[None]:
    from pkcs11 import exceptions as px

    try:
        yield
    except px.PKCS11Error as exc:
        raise _error(uri, exc) from None


_LIBS: dict[str, Any] = {}


def _load_module(path: str) -> Any:
    import pkcs11
    from pkcs11 import exceptions as px

    if path in _LIBS:
        return _LIBS[path]
    try:
        lib = pkcs11.lib(path)
    except px.PKCS11Error as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot load PKCS#11 module {path}: {detail}") from None
    _LIBS[path] = lib
    return lib


def _find_token(lib: Any, uri: Pkcs11Uri) -> Any:
    from pkcs11 import TokenFlag

    found: list[Any] = []
    labels: list[str] = []
    for slot in lib.get_slots(token_present=True):
        token = slot.get_token()
        if not token.flags & TokenFlag.TOKEN_INITIALIZED:
            continue
        serial = bytes(token.serial).decode("ascii", "replace").strip()
        labels.append(token.label)
        if uri.token is not None and token.label != uri.token:
            continue
        if uri.serial is not None and serial != uri.serial:
            continue
        if uri.manufacturer is not None and token.manufacturer_id != uri.manufacturer:
            continue
        if uri.model is not None and token.model != uri.model:
            continue
        if uri.slot_id is not None and slot.slot_id != uri.slot_id:
            continue
        found.append(token)
    if not found:
        present = ", ".join(repr(x) for x in labels) or "none"
        raise InputError(f"{_describe(uri)} not found (initialised tokens: {present})")
    if len(found) > 1:
        raise InputError(f"{_describe(uri)}: several tokens match; add serial= to the URI")
    return found[0]


def _key_template(uri: Pkcs11Uri, object_class: Any) -> dict[Any, Any]:
    from pkcs11 import Attribute

    attrs: dict[Any, Any] = {Attribute.CLASS: object_class}
    if uri.object is not None:
        attrs[Attribute.LABEL] = uri.object
    if uri.id is not None:
        attrs[Attribute.ID] = uri.id
    return attrs


def _key_name(uri: Pkcs11Uri) -> str:
    if uri.object is not None:
        return f"object {uri.object!r}"
    return f"id {uri.id.hex() if uri.id else ''}"


def _one_private_key(session: Any, uri: Pkcs11Uri) -> Any:
    from pkcs11 import ObjectClass

    found = list(session.get_objects(_key_template(uri, ObjectClass.PRIVATE_KEY)))
    if not found:
        raise InputError(f"{_describe(uri)}: no private key {_key_name(uri)}")
    if len(found) > 1:
        raise InputError(
            f"{_describe(uri)}: {len(found)} private keys match {_key_name(uri)}; add id= to "
            "the URI"
        )
    return found[0]


def _public_numbers(session: Any, uri: Pkcs11Uri, private: Any) -> tuple[int, int]:
    """(n, e) of the key: from the private key object, else its public key object."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11 import exceptions as px

    where = f"{_describe(uri)}: key {_key_name(uri)}"
    if private.key_type != KeyType.RSA:
        raise InputError(f"{where} is not an RSA key (SGX needs RSA-{keys.KEY_BITS}, e = 3)")
    try:
        n, e = private[Attribute.MODULUS], private[Attribute.PUBLIC_EXPONENT]
    except (px.AttributeTypeInvalid, px.AttributeSensitive):
        template = _key_template(uri, ObjectClass.PUBLIC_KEY)
        with contextlib.suppress(px.AttributeTypeInvalid):
            template[Attribute.ID] = private[Attribute.ID]
        publics = list(session.get_objects(template))
        if len(publics) != 1:
            raise InputError(f"{where}: cannot read its public key from the token") from None
        n, e = publics[0][Attribute.MODULUS], publics[0][Attribute.PUBLIC_EXPONENT]
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


@dataclass(frozen=True)
class _Target:
    uri: Pkcs11Uri
    module: str
    pin: str


def _target(spec: str) -> _Target:
    uri = parse(spec)
    module = module_path(uri)
    pin = read_pin(uri)
    return _Target(uri, module, pin)


@contextlib.contextmanager
def _session(target: _Target, rw: bool = False) -> Iterator[Any]:
    lib = _load_module(target.module)
    with _pkcs11_errors(target.uri):
        token = _find_token(lib, target.uri)
        with token.open(user_pin=target.pin, rw=rw) as session:
            yield session


# --------------------------------------------------------------------------- signer


class Pkcs11Signer:
    """A Signer whose private key stays in the token (gsc.sgx.signer.Signer)."""

    def __init__(self, target: _Target, modulus: int, exponent: int) -> None:
        self._target = target
        self._modulus = modulus
        self._exponent = exponent

    @property
    def uri(self) -> Pkcs11Uri:
        return self._target.uri

    @property
    def modulus(self) -> int:
        return self._modulus

    @property
    def public_exponent(self) -> int:
        return self._exponent

    def sign_pkcs1v15_sha256(self, data: bytes) -> bytes:
        import hashlib

        from pkcs11 import Mechanism
        from pkcs11 import exceptions as px

        with _session(self._target) as session:
            key = _one_private_key(session, self._target.uri)
            try:
                signature = key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
            except (px.MechanismInvalid, px.FunctionNotSupported):
                digest_info = SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
                signature = key.sign(digest_info, mechanism=Mechanism.RSA_PKCS)
        return bytes(signature)


def open_signer(spec: str) -> Pkcs11Signer:
    """Log in, find the key, check it is RSA-3072 with e = 3; InputError otherwise."""
    target = _target(spec)
    with _session(target) as session:
        private = _one_private_key(session, target.uri)
        n, e = _public_numbers(session, target.uri, private)
    from cryptography.hazmat.primitives.asymmetric import rsa

    keys.check_public_key(
        rsa.RSAPublicNumbers(e, n).public_key(), f"{_describe(target.uri)}: {_key_name(target.uri)}"
    )
    return Pkcs11Signer(target, n, e)


# --------------------------------------------------------------------------- gen-key


@dataclass(frozen=True)
class GeneratedKey:
    uri: Pkcs11Uri
    modulus: int


def generate_key(spec: str) -> GeneratedKey:
    """Generate an RSA-3072, e = 3 key pair inside the token (private part sensitive and
    not extractable); refuse when an object with the same label or id exists."""
    from pkcs11 import Attribute, KeyType, MechanismFlag

    target = _target(spec)
    uri = target.uri
    if uri.object is None:
        raise InputError("gen-key: the PKCS#11 URI needs object=LABEL for the new key")
    key_id = uri.id if uri.id is not None else secrets.token_bytes(16)
    uri = replace(uri, id=key_id)
    with _session(target, rw=True) as session:
        for attrs in ({Attribute.LABEL: uri.object}, {Attribute.ID: key_id}):
            if list(session.get_objects(attrs)):
                what = "label" if Attribute.LABEL in attrs else "id"
                raise InputError(
                    f"{_describe(uri)} already has an object with this {what}; refusing to "
                    "create another"
                )
        public, private = session.generate_keypair(
            KeyType.RSA,
            keys.KEY_BITS,
            id=key_id,
            label=uri.object,
            store=True,
            capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
            public_template={
                Attribute.PUBLIC_EXPONENT: keys.KEY_EXPONENT.to_bytes(1, "big"),
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
            },
            private_template={
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.SIGN: True,
                Attribute.DECRYPT: False,
                Attribute.UNWRAP: False,
            },
        )
        # Fail closed if the token did not honour the template.
        if private[Attribute.EXTRACTABLE] or not private[Attribute.SENSITIVE]:
            private.destroy()
            public.destroy()
            raise InputError(f"{_describe(uri)}: the token made an extractable key; removed it")
        n = int.from_bytes(public[Attribute.MODULUS], "big")
        e = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        if n.bit_length() != keys.KEY_BITS or e != keys.KEY_EXPONENT:
            private.destroy()
            public.destroy()
            raise InputError(f"{_describe(uri)}: the token did not make an RSA-3072 e=3 key")
    return GeneratedKey(uri, n)
