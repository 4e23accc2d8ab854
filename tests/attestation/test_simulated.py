"""The simulated quoting stack: its quotes verify only with allow_simulated, a revoked PCK
certificate is refused, RA-TLS binding (legacy, mis-encoded and intended OIDs, TCG DICE), and
a real TLS handshake on 127.0.0.1 with the ssl client helper."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gsc.attestation import Policy, collateral_from_json, ratls, verify_quote
from gsc.attestation.simulate import make_quote, make_ratls_cert, simulated_collateral_json
from gsc.attestation.trust import SIMULATED_ROOT_CN, data_bytes, simulated_root

MRE = bytes([0xAA]) * 32
MRS = bytes([0xBB]) * 32
SIM = Policy(allow_simulated=True)


def test_root_says_simulated() -> None:
    cn = simulated_root().subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    assert cn[0].value == SIMULATED_ROOT_CN
    assert "SIMULATED" in SIMULATED_ROOT_CN and "proves nothing about hardware" in SIMULATED_ROOT_CN


def test_simulated_quote_identity() -> None:
    q = make_quote(MRE, MRS, (4).to_bytes(8, "little") + (3).to_bytes(8, "little"), 5, 6,
                   b"\x01" * 64)
    r = verify_quote(q, None, SIM)
    assert r.accepted and r.simulated
    assert (r.mrenclave, r.mrsigner, r.isvprodid, r.isvsvn) == (MRE.hex(), MRS.hex(), 5, 6)
    assert r.report_data == "01" * 64 and r.debug is False
    assert verify_quote(q, None, Policy()).failed_step == "simulated"


def test_simulated_with_intel_collateral_refused(collateral_json: dict[str, object]) -> None:
    q = make_quote(MRE, MRS, bytes(16), 0, 0, b"")
    r = verify_quote(q, collateral_from_json(collateral_json), SIM,
                     dt.datetime(2025, 6, 25, tzinfo=dt.UTC))
    assert not r.accepted and r.failed_step == "crl"


def _key(name: str) -> ec.EllipticCurvePrivateKey:
    k = serialization.load_pem_private_key(data_bytes(name), None)
    assert isinstance(k, ec.EllipticCurvePrivateKey)
    return k


def test_revoked_pck_refused() -> None:
    """A PCK CRL (signed by the simulated PCK CA, whose key is public) that lists the PCK
    certificate's serial number makes the quote fail at the crl step."""
    q = make_quote(MRE, MRS, bytes(16), 0, 0, b"")
    coll = simulated_collateral_json()
    ca = x509.load_pem_x509_certificates(coll["pck_crl_issuer_chain"].encode())[0]
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    revoked = (x509.RevokedCertificateBuilder().serial_number(4)
               .revocation_date(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)).build())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
           .last_update(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
           .next_update(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
           .add_revoked_certificate(revoked).sign(_key("sim_pck_ca.key.pem"), hashes.SHA256()))
    c = dict(coll)
    c["pck_crl"] = crl.public_bytes(serialization.Encoding.DER).hex()
    r = verify_quote(q, collateral_from_json(c), SIM, now)
    assert r.failed_step == "crl" and "revoked" in r.reason
    # the same CRL without the entry is fine, even though it was issued after `now`
    crl2 = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
            .last_update(dt.datetime(2035, 1, 1, tzinfo=dt.UTC))
            .next_update(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
            .sign(_key("sim_pck_ca.key.pem"), hashes.SHA256()))
    c["pck_crl"] = crl2.public_bytes(serialization.Encoding.DER).hex()
    assert verify_quote(q, collateral_from_json(c), SIM, now).accepted


@pytest.mark.parametrize(
    ("dice", "legacy", "oid", "binding"),
    [
        (True, True, ratls.LEGACY_OID_MISENCODED, "dice+legacy"),
        (True, False, ratls.LEGACY_OID_MISENCODED, "dice"),
        (False, True, ratls.LEGACY_OID_MISENCODED, "legacy"),
        (False, True, ratls.LEGACY_OID, "legacy"),
    ],
)
def test_ratls_bound(dice: bool, legacy: bool, oid: str, binding: str) -> None:
    der, _ = make_ratls_cert(MRE, MRS, dice=dice, legacy=legacy, legacy_oid=oid)
    r = ratls.verify_ratls_der(der, None, Policy(mrenclave=MRE, allow_simulated=True))
    assert r.accepted, r.reason
    assert r.binding == binding and r.simulated
    r = ratls.verify_ratls_der(der, None, Policy(mrenclave=MRS, allow_simulated=True))
    assert r.failed_step == "policy"


@pytest.mark.parametrize(("dice", "legacy"), [(True, True), (True, False), (False, True)])
def test_ratls_misbound(dice: bool, legacy: bool) -> None:
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    der, _ = make_ratls_cert(MRE, MRS, bind_to=other, dice=dice, legacy=legacy)
    r = ratls.verify_ratls_der(der, None, SIM)
    assert not r.accepted and r.failed_step == "binding", r.reason


def test_ratls_no_quote_and_wrong_key() -> None:
    der, _ = make_ratls_cert(MRE, MRS, dice=False, legacy=False)
    assert ratls.verify_ratls_der(der, None, SIM).failed_step == "binding"
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "x")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(k.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC)).sign(k, hashes.SHA256()))
    r = ratls.verify_ratls_der(cert.public_bytes(serialization.Encoding.DER), None, SIM)
    assert r.failed_step == "certificate"


def _serve(der: bytes, key: ec.EllipticCurvePrivateKey, d: Path) -> tuple[int, threading.Thread]:
    crt, kf = d / "crt.pem", d / "key.pem"
    crt.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    kf.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    kf.chmod(0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, kf)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def run() -> None:
        with srv:
            conn, _ = srv.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    data = tls.recv(100)
                    if data:
                        tls.sendall(b"echo:" + data)
            except (ssl.SSLError, OSError):
                pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t


def test_tls_handshake_with_helper() -> None:
    der, key = make_ratls_cert(MRE, MRS, isvprodid=9)
    with tempfile.TemporaryDirectory() as d:
        port, t = _serve(der, key, Path(d))
        sock, result = ratls.connect("127.0.0.1", port,
                                     Policy(mrenclave=MRE, isvprodid=9, allow_simulated=True))
        with sock:
            assert result.accepted and result.simulated
            sock.sendall(b"hello")
            assert sock.recv(100) == b"echo:hello"
        t.join(10)


def test_tls_handshake_refuses_misbound_and_policy() -> None:
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    der, key = make_ratls_cert(MRE, MRS, bind_to=other)
    with tempfile.TemporaryDirectory() as d:
        port, t = _serve(der, key, Path(d))
        with pytest.raises(ratls.RatlsRejected) as exc:
            ratls.connect("127.0.0.1", port, Policy(allow_simulated=True))
        assert exc.value.result.failed_step == "binding"
        t.join(10)
    der, key = make_ratls_cert(MRE, MRS)
    with tempfile.TemporaryDirectory() as d:
        port, t = _serve(der, key, Path(d))
        with pytest.raises(ratls.RatlsRejected) as exc:
            ratls.connect("127.0.0.1", port, Policy())  # simulated not allowed
        assert exc.value.result.failed_step == "simulated"
        t.join(10)


def test_ssl_context_example() -> None:
    """The documented pattern: ssl.SSLContext(CERT_NONE) + verify_peer after handshake."""
    der, key = make_ratls_cert(MRE, MRS)
    with tempfile.TemporaryDirectory() as d:
        port, t = _serve(der, key, Path(d))
        ctx = ratls.client_context()
        assert ctx.verify_mode == ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="enclave") as tls:
            res = ratls.verify_peer(tls, None, Policy(mrsigner=MRS, allow_simulated=True))
            assert res.accepted, res.reason
            tls.sendall(b"x")
            assert tls.recv(10) == b"echo:x"
        t.join(10)
