"""Trust anchors shipped with gsc: the pinned Intel SGX Root CA and gsc's SIMULATED root
(whose private key is public: a quote chaining to it proves nothing about hardware)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
_DER = Encoding.DER
SIMULATED_ROOT_CN = "gsc SIMULATED SGX Root CA - proves nothing about hardware"


def data_bytes(name: str) -> bytes:
    return resources.files("gsc.attestation").joinpath("data", name).read_bytes()


@cache
def intel_root() -> x509.Certificate:
    der = data_bytes("intel_sgx_root_ca.der")
    if hashlib.sha256(der).hexdigest() != INTEL_ROOT_SHA256:
        raise RuntimeError("the packaged Intel SGX Root CA does not match its pinned hash")
    return x509.load_der_x509_certificate(der)


@cache
def simulated_root() -> x509.Certificate:
    return x509.load_pem_x509_certificate(data_bytes("sim_root_ca.pem"))


def load_root(data: bytes) -> x509.Certificate:
    """A root certificate given as PEM or DER (raises ValueError)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def is_simulated(cert: x509.Certificate) -> bool:
    sim = simulated_root()
    return cert.public_bytes(_DER) == sim.public_bytes(_DER)

