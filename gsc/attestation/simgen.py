"""Generate gsc's SIMULATED quoting stack (run once by a maintainer; its output is committed):

    python -m gsc.attestation.simgen --data gsc/attestation/data \
        --c-header runtime/src/attest_sim_data.h

Everything it makes is PUBLIC BY DESIGN, private keys included: a simulated root CA whose
name says it proves nothing about hardware, a PCK CA and PCK certificate (with the SGX
extension), a TCB signing certificate, CRLs, TCB info and QE identity signed like Intel's,
an attestation key and a QE report signed by the PCK key. Anyone can forge quotes that chain
to this root; verifiers refuse them unless --allow-simulated is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import struct
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from gsc.attestation.trust import SIMULATED_ROOT_CN

NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
SIM_FMSPC = bytes.fromhex("73696d000000")  # "sim"
SIM_PCE_ID = bytes(2)
SIM_TCB_COMPONENTS = (1,) * 16
SIM_PCESVN = 1
SIM_QE_SVN = 8
SIM_QE_MRSIGNER = hashlib.sha256(b"gsc simulated quoting enclave").digest()
SIM_QE_ISVPRODID = 1
SIM_QE_ATTRIBUTES = bytes.fromhex("11000000000000000700000000000000")
SIM_QE_AUTH_DATA = bytes(range(32))
SGX_OID = "1.2.840.113741.1.13.1"


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gsc SIMULATED (not Intel)"),
    ])


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _int(v: int) -> bytes:
    b = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return _tlv(0x02, b)


def _entry(oid: str, value: bytes) -> bytes:
    return _tlv(0x30, _oid(oid) + value)


def sgx_extension() -> bytes:
    tcb = b"".join(_entry(f"{SGX_OID}.2.{i + 1}", _int(v))
                   for i, v in enumerate(SIM_TCB_COMPONENTS))
    tcb += _entry(f"{SGX_OID}.2.17", _int(SIM_PCESVN))
    tcb += _entry(f"{SGX_OID}.2.18", _tlv(0x04, bytes(SIM_TCB_COMPONENTS)))
    body = _entry(f"{SGX_OID}.1", _tlv(0x04, hashlib.sha256(b"gsc sim ppid").digest()[:16]))
    body += _entry(f"{SGX_OID}.2", _tlv(0x30, tcb))
    body += _entry(f"{SGX_OID}.3", _tlv(0x04, SIM_PCE_ID))
    body += _entry(f"{SGX_OID}.4", _tlv(0x04, SIM_FMSPC))
    body += _entry(f"{SGX_OID}.5", _tlv(0x0A, b"\x00"))
    return _tlv(0x30, body)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    serial: int,
    extra: list[x509.ExtensionType] | None = None,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for ext in extra or []:
        b = b.add_extension(ext, critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _crl(issuer: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOT_BEFORE)
        .next_update(NOT_AFTER)
        .add_extension(x509.CRLNumber(1), critical=False)
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


def _rs(key: ec.EllipticCurvePrivateKey, msg: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _keypem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def qe_report_body(report_data: bytes) -> bytes:
    body = bytearray(384)
    body[0:16] = bytes(SIM_TCB_COMPONENTS)
    body[48:64] = SIM_QE_ATTRIBUTES
    body[64:96] = hashlib.sha256(b"gsc simulated QE mrenclave").digest()
    body[128:160] = SIM_QE_MRSIGNER
    struct.pack_into("<HH", body, 256, SIM_QE_ISVPRODID, SIM_QE_SVN)
    body[320:384] = report_data
    return bytes(body)


def generate(data_dir: Path, c_header: Path | None) -> None:
    curve = ec.SECP256R1()
    root_key = ec.generate_private_key(curve)
    root = _cert(SIMULATED_ROOT_CN, root_key, None, root_key, ca=True, serial=1)
    pck_ca_key = ec.generate_private_key(curve)
    pck_ca = _cert("gsc SIMULATED SGX PCK Platform CA", pck_ca_key, root, root_key, ca=True,
                   serial=2)
    tcb_key = ec.generate_private_key(curve)
    tcb_cert = _cert("gsc SIMULATED SGX TCB Signing", tcb_key, root, root_key, ca=False,
                     serial=3)
    pck_key = ec.generate_private_key(curve)
    pck = _cert("gsc SIMULATED SGX PCK Certificate", pck_key, pck_ca, pck_ca_key, ca=False,
                serial=4, extra=[x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_OID),
                                                            sgx_extension())])
    att_key = ec.generate_private_key(curve)
    nums = att_key.public_key().public_numbers()
    att_pub = nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
    qe_rd = hashlib.sha256(att_pub + SIM_QE_AUTH_DATA).digest() + bytes(32)
    qe_report = qe_report_body(qe_rd)
    qe_sig = _rs(pck_key, qe_report)

    date = NOT_BEFORE.strftime("%Y-%m-%dT%H:%M:%SZ")
    nxt = NOT_AFTER.strftime("%Y-%m-%dT%H:%M:%SZ")
    tcb_info = json.dumps({
        "id": "SGX", "version": 3, "issueDate": date, "nextUpdate": nxt,
        "fmspc": SIM_FMSPC.hex().upper(), "pceId": SIM_PCE_ID.hex().upper(), "tcbType": 0,
        "tcbEvaluationDataNumber": 1,
        "tcbLevels": [{
            "tcb": {"sgxtcbcomponents": [{"svn": v} for v in SIM_TCB_COMPONENTS],
                    "pcesvn": SIM_PCESVN},
            "tcbDate": date, "tcbStatus": "UpToDate", "advisoryIDs": []}],
    }, separators=(",", ":"))
    qe_identity = json.dumps({
        "id": "QE", "version": 2, "issueDate": date, "nextUpdate": nxt,
        "tcbEvaluationDataNumber": 1, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
        "attributes": "11000000000000000000000000000000",
        "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
        "mrsigner": SIM_QE_MRSIGNER.hex().upper(), "isvprodid": SIM_QE_ISVPRODID,
        "tcbLevels": [{"tcb": {"isvsvn": SIM_QE_SVN}, "tcbDate": date,
                       "tcbStatus": "UpToDate"}],
    }, separators=(",", ":"))
    collateral = {
        "_comment": "gsc SIMULATED collateral: proves nothing about hardware",
        "pck_crl_issuer_chain": _pem(pck_ca) + _pem(root),
        "root_ca_crl": _crl(root, root_key).hex(),
        "pck_crl": _crl(pck_ca, pck_ca_key).hex(),
        "tcb_info_issuer_chain": _pem(tcb_cert) + _pem(root),
        "tcb_info": tcb_info,
        "tcb_info_signature": _rs(tcb_key, tcb_info.encode()).hex(),
        "qe_identity_issuer_chain": _pem(tcb_cert) + _pem(root),
        "qe_identity": qe_identity,
        "qe_identity_signature": _rs(tcb_key, qe_identity.encode()).hex(),
    }
    chain_pem = _pem(pck) + _pem(pck_ca) + _pem(root)
    quoting = {
        "_comment": "gsc SIMULATED quoting enclave output; the keys are public by design",
        "qe_svn": SIM_QE_SVN,
        "pce_svn": SIM_PCESVN,
        "qe_report": qe_report.hex(),
        "qe_report_signature": qe_sig.hex(),
        "qe_auth_data": SIM_QE_AUTH_DATA.hex(),
        "pck_chain": chain_pem,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "sim_root_ca.pem").write_text(_pem(root))
    (data_dir / "sim_collateral.json").write_text(json.dumps(collateral, indent=1) + "\n")
    (data_dir / "sim_quoting.json").write_text(json.dumps(quoting, indent=1) + "\n")
    keys = {
        "sim_root_ca.key.pem": root_key,
        "sim_pck_ca.key.pem": pck_ca_key,
        "sim_tcb_signing.key.pem": tcb_key,
        "sim_pck.key.pem": pck_key,
        "sim_attestation.key.pem": att_key,
    }
    for name, key in keys.items():
        (data_dir / name).write_bytes(_keypem(key))
    if c_header is not None:
        c_header.write_text(_c_header(att_key, att_pub, qe_report, qe_sig, chain_pem.encode()))


def _c_bytes(name: str, data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 12):
        lines.append("    " + " ".join(f"0x{b:02x}," for b in data[i : i + 12]))
    return f"static const uint8_t {name}[{len(data)}] = {{\n" + "\n".join(lines) + "\n};\n"


def _c_header(att_key: ec.EllipticCurvePrivateKey, att_pub: bytes, qe_report: bytes,
              qe_sig: bytes, chain: bytes) -> str:
    d = att_key.private_numbers().private_value.to_bytes(32, "big")
    return (
        "/* Generated by `python -m gsc.attestation.simgen`; do not edit.\n"
        " *\n"
        " * gsc's SIMULATED quoting stack: the attestation private key below is PUBLIC BY\n"
        " * DESIGN. Quotes signed with it chain to 'gsc SIMULATED SGX Root CA - proves nothing\n"
        " * about hardware' and prove nothing about hardware. */\n"
        "#ifndef GSC_ATTEST_SIM_DATA_H\n#define GSC_ATTEST_SIM_DATA_H\n\n#include <stdint.h>\n\n"
        f"#define GSC_SIM_QE_SVN {SIM_QE_SVN}\n#define GSC_SIM_PCE_SVN {SIM_PCESVN}\n\n"
        + _c_bytes("gsc_sim_att_priv", d)
        + _c_bytes("gsc_sim_att_pub", att_pub)
        + _c_bytes("gsc_sim_qe_report", qe_report)
        + _c_bytes("gsc_sim_qe_report_sig", qe_sig)
        + _c_bytes("gsc_sim_qe_auth_data", SIM_QE_AUTH_DATA)
        + _c_bytes("gsc_sim_pck_chain", chain)
        + "\n#endif\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--c-header", type=Path)
    args = ap.parse_args()
    generate(args.data, args.c_header)


if __name__ == "__main__":
    main()
