"""A real Debian `docker-registry` on 127.0.0.1 for tests (tests/release, tests/image):
plain HTTP, or TLS with a self-signed CA made here, with or without htpasswd basic auth.
tests/ is on sys.path (root conftest)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tls(d: Path) -> tuple[Path, Path, Path]:
    """(CA cert, server cert, server key) for 127.0.0.1, made with cryptography."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gsc test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = d / "ca.pem", d / "server.pem", d / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


@dataclass
class Registry:
    host: str
    ca: Path | None
    user: str | None
    password: str | None
    proc: subprocess.Popen[bytes]
    root: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start(*, tls: bool = False, user: str | None = None, password: str | None = None
          ) -> Registry:
    if not os.path.exists(REGISTRY_BIN):
        pytest.fail("docker-registry is not installed (scripts/setup installs it)")
    root = Path(tempfile.mkdtemp(prefix="gsc-rel2-registry-"))
    port = free_port()
    cfg = [f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
           f"    rootdirectory: {root}/data\n  delete:\n    enabled: true\n"
           f"http:\n  addr: 127.0.0.1:{port}\n"]
    ca = None
    if tls:
        ca, cert, key = make_tls(root)
        cfg.append(f"  tls:\n    certificate: {cert}\n    key: {key}\n")
    if user is not None:
        if shutil.which("htpasswd") is None:
            pytest.fail("htpasswd is not installed (apache2-utils; scripts/setup installs it)")
        hp = root / "htpasswd"
        subprocess.run(["htpasswd", "-Bbc", str(hp), user, password or ""], check=True,
                       capture_output=True)
        cfg.append(f"auth:\n  htpasswd:\n    realm: gsc-test\n    path: {hp}\n")
    (root / "config.yml").write_text("".join(cfg))
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(root / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("docker-registry did not start")
    return Registry(f"127.0.0.1:{port}", ca, user, password, proc, root)
