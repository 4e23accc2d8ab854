"""Fixtures for the release-engineering tests: a real SoftHSM2 token in a private
directory, the installed gsc CLI, and small helpers shared by the test files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SO_PIN = "so-4711-release"
USER_PIN = "pin-8Q3z-release"  # distinctive, so a leak is easy to find


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        data = json.loads(self.out)
        assert isinstance(data, dict)
        return data


def gsc(*args: str | Path, env: dict[str, str] | None = None, timeout: int = 600) -> Run:
    """The installed gsc (python -P: never the source tree), GSC_* secrets unset unless given."""
    full = {k: v for k, v in os.environ.items()
            if k not in ("GSC_PKCS11_PIN", "GSC_PKCS11_MODULE", "GSC_KEY_PASSPHRASE",
                         "GSC_DEBUG")}
    full.update(env or {})
    proc = subprocess.run([sys.executable, "-P", "-m", "gsc", *map(str, args)],
                          capture_output=True, text=True, env=full, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(res: Run, code: int = 2) -> str:
    assert res.code == code, (res.code, res.out, res.err)
    lines = res.err.strip("\n").split("\n")
    assert len(lines) == 1, res.err
    assert lines[0].startswith("gsc: error: "), res.err
    assert "Traceback" not in res.err
    return lines[0]


@dataclass
class SoftHsm:
    """A SoftHSM2 configuration of its own with one initialised token."""

    root: Path
    token: str
    env: dict[str, str] = field(default_factory=dict)
    pin_file: Path = Path()

    def util(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["softhsm2-util", *map(str, args)], capture_output=True,
                              text=True, env={**os.environ, **self.env}, check=False)

    def uri(self, obj: str, *, pin: bool = True, extra: str = "") -> str:
        uri = f"pkcs11:token={self.token};object={obj}{extra}"
        return uri + (f"?pin-source=file:{self.pin_file}" if pin else "")

    def import_pem(self, pem: Path, label: str, key_id: str) -> None:
        r = self.util("--import", pem, "--token", self.token, "--label", label, "--id", key_id,
                      "--pin", USER_PIN)
        assert r.returncode == 0, r.stderr + r.stdout

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run python code against the token in a fresh process (python-pkcs11)."""
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, env={**os.environ, **self.env}, timeout=120)


def softhsm_module() -> str:
    from gsc.sgx.hsm import SOFTHSM2_MODULES

    for m in SOFTHSM2_MODULES:
        if os.path.isfile(m):
            return m
    pytest.fail("SoftHSM2 is not installed (Debian package softhsm2; scripts/setup installs it)")


def make_softhsm(root: Path, token: str = "gsc-release") -> SoftHsm:
    if shutil.which("softhsm2-util") is None:
        pytest.fail("softhsm2-util missing (Debian package softhsm2; scripts/setup installs it)")
    (root / "tokens").mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    hsm = SoftHsm(root, token, {"SOFTHSM2_CONF": str(conf)})
    r = hsm.util("--init-token", "--free", "--label", token, "--so-pin", SO_PIN,
                 "--pin", USER_PIN)
    assert r.returncode == 0, r.stderr + r.stdout
    hsm.pin_file = root / "pin"
    hsm.pin_file.write_text(USER_PIN + "\n")
    hsm.pin_file.chmod(0o600)
    return hsm


@pytest.fixture
def softhsm(tmp_path: Path) -> SoftHsm:
    return make_softhsm(tmp_path / "hsm")


@pytest.fixture(scope="module")
def module_softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    return make_softhsm(tmp_path_factory.mktemp("hsm-mod") / "hsm")


@pytest.fixture(scope="session")
def pal() -> Path:
    from gsc.runtime_binary import runtime_path

    return runtime_path()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    m = tmp_path / "m.manifest.sgx"
    m.write_text('[sgx]\nenclave_size = "256M"\nmax_threads = 4\nisvprodid = 7\nisvsvn = 3\n')
    return m
