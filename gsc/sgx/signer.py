"""SGX signers: whatever can make an RSA-3072 (e = 3) PKCS#1 v1.5 / SHA-256 signature.

A PEM key on disk (PemSigner) and a key inside a PKCS#11 token (gsc.sgx.hsm) are both
Signers; the SIGSTRUCT code needs only the public numbers and `sign_pkcs1v15_sha256`.
`load_signer` is the one place the CLI's -k/--key goes through: `pkcs11:...` names a
token key, anything else is a PEM file path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gsc.errors import InputError
from gsc.sgx import keys
from gsc.sgx.pkcs11_uri import is_pkcs11_uri


@runtime_checkable
class Signer(Protocol):
    """An RSA-3072, e = 3 signing key, wherever it lives."""

    @property
    def modulus(self) -> int: ...

    @property
    def public_exponent(self) -> int: ...

    def sign_pkcs1v15_sha256(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 over `data`: 384 big-endian bytes."""
        ...


class PemSigner:
    """A private key held in memory (loaded from a PEM file)."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        self._public = key.public_key().public_numbers()

    @property
    def modulus(self) -> int:
        return self._public.n

    @property
    def public_exponent(self) -> int:
        return self._public.e

    def sign_pkcs1v15_sha256(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def public_key(signer: Signer) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(signer.public_exponent, signer.modulus).public_key()


def as_signer(key: Signer | rsa.RSAPrivateKey) -> Signer:
    return PemSigner(key) if isinstance(key, rsa.RSAPrivateKey) else key


def load_signer(spec: str | Path, passphrase_file: Path | None = None) -> Signer:
    """The signing key named by -k/--key: a `pkcs11:` URI or a PEM file path.

    The key is checked (RSA-3072, e = 3) before returning; InputError otherwise."""
    if is_pkcs11_uri(spec):
        if passphrase_file is not None:
            raise InputError(
                "--passphrase-file is for PEM keys; a PKCS#11 token's PIN comes from "
                "pin-source=file:... in the URI or $GSC_PKCS11_PIN"
            )
        from gsc.sgx import hsm

        return hsm.open_signer(str(spec))
    return PemSigner(keys.load_private_key(Path(spec), passphrase_file))


def key_spec(text: str | None) -> str | Path | None:
    """A -k/--key argument as given: the URI string for `pkcs11:`, else a Path."""
    if text is None:
        return None
    return text if is_pkcs11_uri(text) else Path(text)
