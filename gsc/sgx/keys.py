"""RSA-3072 (e = 3) signing keys: load (PEM, PKCS#1 or PKCS#8, optionally encrypted),
load public keys, generate. Passphrases come from a file or GSC_KEY_PASSPHRASE, never argv,
and are never printed."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gsc.errors import InputError
from gsc.files import read_input, write_new_private

KEY_BITS = 3072
KEY_EXPONENT = 3
PASSPHRASE_ENV = "GSC_KEY_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
MAX_KEY_FILE = 1 << 20


def read_passphrase(passphrase_file: Path | None) -> bytes | None:
    """The first line of the passphrase file, else $GSC_KEY_PASSPHRASE, else None."""
    if passphrase_file is not None:
        raw = read_input(passphrase_file, "passphrase file", MAX_KEY_FILE)
        line = raw.split(b"\n", 1)[0].rstrip(b"\r")
        if not line:
            raise InputError(f"passphrase file {passphrase_file} is empty")
        return line
    env = os.environb.get(PASSPHRASE_ENV.encode())
    if env:
        return env
    return None


def check_public_key(key: rsa.RSAPublicKey, source: str) -> None:
    """SGX needs RSA-3072 with public exponent 3."""
    numbers = key.public_numbers()
    if key.key_size != KEY_BITS:
        raise InputError(f"{source}: RSA key is {key.key_size} bits, SGX needs RSA-{KEY_BITS}")
    if numbers.e != KEY_EXPONENT:
        raise InputError(f"{source}: RSA public exponent is {numbers.e}, SGX needs {KEY_EXPONENT}")


def _is_encrypted_pem(data: bytes) -> bool:
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def load_private_key(path: Path, passphrase_file: Path | None = None) -> rsa.RSAPrivateKey:
    """Load and check an SGX signing key. InputError with a one-line reason on failure."""
    data = read_input(path, "key", MAX_KEY_FILE)
    if b"-----BEGIN" not in data:
        raise InputError(f"key {path}: not a PEM file")
    encrypted = _is_encrypted_pem(data)
    passphrase = read_passphrase(passphrase_file) if encrypted else None
    if encrypted and passphrase is None:
        raise InputError(f"key {path} is encrypted: give --passphrase-file or set {PASSPHRASE_ENV}")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        if encrypted:
            raise InputError(f"key {path}: wrong passphrase (cannot decrypt the key)") from None
        raise InputError(f"key {path}: not a readable PEM private key") from None
    except Exception as exc:  # e.g. UnsupportedAlgorithm
        raise InputError(f"key {path}: cannot load: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InputError(f"key {path}: not an RSA key (SGX needs RSA-{KEY_BITS}, e = 3)")
    check_public_key(key.public_key(), f"key {path}")
    return key


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    """Load and check a PEM public key (SubjectPublicKeyInfo or PKCS#1 RSA PUBLIC KEY)."""
    data = read_input(path, "public key", MAX_KEY_FILE)
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise InputError(f"public key {path}: not a readable PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InputError(f"public key {path}: not an RSA key")
    check_public_key(key, f"public key {path}")
    return key


def generate_key(out: Path, passphrase: bytes | None) -> None:
    """New RSA-3072, e = 3 key as PEM PKCS#8 (encrypted when a passphrase is given),
    created with mode 0600 atomically; an existing file is never overwritten."""
    if os.path.lexists(out):
        raise InputError(f"{out} already exists; refusing to overwrite it")
    key = rsa.generate_private_key(public_exponent=KEY_EXPONENT, key_size=KEY_BITS)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    write_new_private(out, pem)


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
