"""`gsc verify-quote` / `gsc verify-ratls` through the real CLI (python -P -m gsc): JSON
keys, exit statuses, one-line errors, simulated quotes, and --pccs against a local
PCS v4-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gsc.attestation.simulate import make_quote, make_ratls_cert

from .conftest import EXPECTED, NOW_TEXT, SAMPLE, VEC, run_gsc

CONTRACT_KEYS = {"accepted", "status", "advisories", "mrenclave", "mrsigner", "isvprodid",
                 "isvsvn", "debug", "report_data", "failed_step", "reason"}
COLL = SAMPLE / "sgx_quote_collateral.json"
QUOTE = SAMPLE / "sgx_quote.bin"


def _one_line_error(res: Any, code: int) -> None:
    assert res.code == code, (res.code, res.out, res.err)
    lines = res.err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("gsc: error: "), res.err
    assert "Traceback" not in res.err


def test_cli_real_vector_accepted() -> None:
    res = run_gsc("verify-quote", QUOTE, "--collateral", COLL, "--now", NOW_TEXT,
                  "--accept", "ConfigurationAndSWHardeningNeeded", "--json")
    assert res.code == 0, res.err
    obj = res.json()
    assert CONTRACT_KEYS <= set(obj)
    for k, v in EXPECTED.items():
        assert obj[k] == v, k
    assert obj["simulated"] is False
    assert "ACCEPTED" in res.err and "SIMULATED" not in res.err


def test_cli_real_vector_rejected_status() -> None:
    res = run_gsc("verify-quote", QUOTE, "--collateral", COLL, "--now", NOW_TEXT, "--json")
    assert res.code == 1
    obj = res.json()
    assert obj["accepted"] is False and obj["failed_step"] == "tcb_status"
    assert obj["status"] == EXPECTED["status"]


def test_cli_expired_and_wrong_root(tmp_path: Path) -> None:
    res = run_gsc("verify-quote", QUOTE, "--collateral", COLL, "--now", "2025-08-01T00:00:00Z",
                  "--accept", "ConfigurationAndSWHardeningNeeded", "--json")
    assert res.code == 1 and res.json()["failed_step"] == "crl"
    root = tmp_path / "root.pem"
    root.write_bytes((Path(__file__).parents[2] / "gsc/attestation/data/sim_root_ca.pem")
                     .read_bytes())
    res = run_gsc("verify-quote", QUOTE, "--collateral", COLL, "--now", NOW_TEXT,
                  "--root", root, "--json")
    assert res.code == 1 and res.json()["failed_step"] == "pck_chain"
    # the pinned root given explicitly as DER is the same as the default
    res = run_gsc("verify-quote", QUOTE, "--collateral", COLL, "--now", NOW_TEXT,
                  "--root", VEC / "intel_sgx_root_ca.der",
                  "--accept", "ConfigurationAndSWHardeningNeeded")
    assert res.code == 0, res.err


def test_cli_malformed_quote_is_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "q.bin"
    bad.write_bytes(QUOTE.read_bytes()[:500])
    res = run_gsc("verify-quote", bad, "--collateral", COLL, "--now", NOW_TEXT, "--json")
    assert res.code == 1
    assert res.json()["failed_step"] == "parse"


@pytest.mark.parametrize(
    "args",
    [
        ["/nonexistent/quote"],
        [str(QUOTE), "--collateral", "/nonexistent.json"],
        [str(QUOTE), "--collateral", str(QUOTE)],
        [str(QUOTE), "--collateral", str(COLL), "--now", "yesterday"],
        [str(QUOTE), "--collateral", str(COLL), "--mrenclave", "abc"],
        [str(QUOTE), "--collateral", str(COLL), "--report-data", "zz"],
        [str(QUOTE), "--collateral", str(COLL), "--root", str(COLL)],
        [str(QUOTE)],  # no collateral for a real quote
    ],
)
def test_cli_bad_input_exit_2(args: list[str]) -> None:
    _one_line_error(run_gsc("verify-quote", *args), 2)


def test_cli_bad_usage_exit_2() -> None:
    res = run_gsc("verify-quote", QUOTE, "--accept", "Revoked")
    assert res.code == 2
    res = run_gsc("verify-quote", QUOTE, "--isvprodid", "70000")
    assert res.code == 2


# ----- simulated --------------------------------------------------------------------------

MRE = bytes(range(32))
MRS = bytes(range(32, 64))


def test_cli_simulated(tmp_path: Path) -> None:
    q = tmp_path / "sim.quote"
    q.write_bytes(make_quote(MRE, MRS, bytes(16), 7, 3, b"nonce-1"))
    res = run_gsc("verify-quote", q, "--json")
    assert res.code == 1
    obj = res.json()
    assert obj["failed_step"] == "simulated" and obj["simulated"] is True
    assert all(line.startswith("SIMULATED") for line in res.err.strip().split("\n")), res.err

    ok = ["--allow-simulated", "--mrenclave", MRE.hex(), "--mrsigner", MRS.hex(),
          "--isvprodid", "7", "--min-isvsvn", "3", "--report-data", b"nonce-1".hex()]
    res = run_gsc("verify-quote", q, *ok, "--json")
    assert res.code == 0, res.err
    obj = res.json()
    assert obj["accepted"] is True and obj["simulated"] is True
    assert obj["status"] == "UpToDate" and "proves nothing" in obj["notice"]
    assert obj["reason"].startswith("SIMULATED")
    res = run_gsc("verify-quote", q, *ok)
    assert res.code == 0
    lines = res.err.strip().split("\n")
    assert len(lines) >= 2 and all(line.startswith("SIMULATED") for line in lines), res.err

    for bad in (["--report-data", b"nonce-2".hex()], ["--mrenclave", MRS.hex()],
                ["--isvprodid", "8"], ["--min-isvsvn", "4"]):
        res = run_gsc("verify-quote", q, *ok, *bad, "--json")
        assert res.code == 1 and res.json()["failed_step"] == "policy", bad


def test_cli_simulated_debug(tmp_path: Path) -> None:
    q = tmp_path / "dbg.quote"
    q.write_bytes(make_quote(MRE, MRS, (0x7).to_bytes(8, "little") + bytes(8), 0, 0, b""))
    res = run_gsc("verify-quote", q, "--allow-simulated", "--json")
    assert res.code == 1 and res.json()["failed_step"] == "policy"
    assert res.json()["debug"] is True
    res = run_gsc("verify-quote", q, "--allow-simulated", "--allow-debug", "--json")
    assert res.code == 0


def test_cli_verify_ratls(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    der, _ = make_ratls_cert(MRE, MRS, isvprodid=2)
    cert = tmp_path / "c.der"
    cert.write_bytes(der)
    res = run_gsc("verify-ratls", cert, "--allow-simulated", "--mrenclave", MRE.hex(), "--json")
    assert res.code == 0, res.err
    assert res.json()["binding"] == "dice+legacy" and res.json()["simulated"] is True
    res = run_gsc("verify-ratls", cert, "--json")
    assert res.code == 1 and res.json()["failed_step"] == "simulated"
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    bad, _ = make_ratls_cert(MRE, MRS, bind_to=other)
    cert.write_bytes(bad)
    res = run_gsc("verify-ratls", cert, "--allow-simulated", "--json")
    assert res.code == 1 and res.json()["failed_step"] == "binding"


# ----- --pccs -----------------------------------------------------------------------------


class _Pcs(http.server.BaseHTTPRequestHandler):
    coll: ClassVar[dict[str, Any]] = {}
    hits: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        c = self.coll
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        self.hits.append(self.path)
        quote_chain = urllib.parse.quote
        if url.path == "/sgx/certification/v4/tcb" and q.get("fmspc") == ["00A067110000"]:
            body = '{"tcbInfo":' + c["tcb_info"] + ',"signature":"' + c["tcb_info_signature"] + '"}'
            self._send(body.encode(), {"TCB-Info-Issuer-Chain":
                                       quote_chain(c["tcb_info_issuer_chain"]),
                                       "Content-Type": "application/json"})
        elif url.path == "/sgx/certification/v4/qe/identity":
            body = ('{"enclaveIdentity":' + c["qe_identity"] + ',"signature":"'
                    + c["qe_identity_signature"] + '"}')
            self._send(body.encode(), {"SGX-Enclave-Identity-Issuer-Chain":
                                       quote_chain(c["qe_identity_issuer_chain"])})
        elif url.path == "/sgx/certification/v4/pckcrl" and q.get("ca") == ["processor"]:
            self._send(bytes.fromhex(c["pck_crl"]), {"SGX-PCK-CRL-Issuer-Chain":
                                                     quote_chain(c["pck_crl_issuer_chain"])})
        elif url.path == "/sgx/certification/v4/rootcacrl":
            self._send(c["root_ca_crl"].encode(), {})  # hex text, as PCCS serves it
        else:
            self.send_error(404)


@pytest.fixture
def pcs_server(collateral_json: dict[str, Any]) -> Iterator[str]:
    _Pcs.coll = collateral_json
    _Pcs.hits = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pcs)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_cli_pccs_same_as_collateral(pcs_server: str, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    common = ["--now", NOW_TEXT, "--accept", "ConfigurationAndSWHardeningNeeded", "--json"]
    offline = run_gsc("verify-quote", QUOTE, "--collateral", COLL, *common)
    online = run_gsc("verify-quote", QUOTE, "--pccs", pcs_server, *common, env=env)
    assert online.code == offline.code == 0, online.err
    assert online.json() == offline.json()
    assert len(_Pcs.hits) == 4
    d = tmp_path / "cache" / "gsc" / "collateral"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    files = list(d.iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    cached = json.loads(files[0].read_text())
    assert cached["tcb_info"] == json.loads(COLL.read_text())["tcb_info"]  # exact bytes
    # second run: served from the cache
    again = run_gsc("verify-quote", QUOTE, "--pccs", pcs_server + "/sgx/certification/v4",
                    *common, env=env)
    assert again.code == 0 and again.json() == offline.json()
    assert len(_Pcs.hits) == 4
    # --no-cache fetches again; a tampered server answer is rejected at the right step
    c = dict(_Pcs.coll)
    c["tcb_info"] = c["tcb_info"].replace('"pcesvn":13', '"pcesvn":12', 1)
    _Pcs.coll = c
    bad = run_gsc("verify-quote", QUOTE, "--pccs", pcs_server, "--no-cache", *common, env=env)
    assert bad.code == 1 and bad.json()["failed_step"] == "tcb_info"
    assert len(_Pcs.hits) == 8


def test_cli_pccs_unreachable(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = run_gsc("verify-quote", QUOTE, "--pccs", "http://127.0.0.1:9/", "--now", NOW_TEXT,
                  env=env)
    _one_line_error(res, 2)
