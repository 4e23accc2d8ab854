"""Audit mode end to end, real Docker: an app that fails under the default policy runs in
allow_all_but_log mode, `gsc suggest-config` turns its stderr into a config, the rebuild
with that config (normal policy) works. Also the CLI contract (exit statuses, --json)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from clitools import BASE, docker, gsc

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = """#!/bin/sh
set -e
mkdir -p /srv/data/sub
echo "hello" > /srv/data/out.txt
echo more >> /srv/data/sub/log.txt
cat /opt/app/settings.conf
cat /srv/data/out.txt
echo APP-OK
"""
DOCKERFILE = f"""FROM {BASE}
COPY app.sh /opt/app/app.sh
RUN chmod 0755 /opt/app/app.sh && mkdir -p /srv/data && echo setting=1 > /opt/app/settings.conf
ENTRYPOINT ["/opt/app/app.sh"]
"""
AUDIT_MANIFEST = """[sgx]
file_check_policy = "allow_all_but_log"
debug = true
[loader]
log_level = "debug"
"""
TAG = "gsc-audit-test/app"


def _run(ref: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "run", "--rm", ref], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def app_image(tmp_path_factory: pytest.TempPathFactory, docker_ready: None) -> str:
    d = tmp_path_factory.mktemp("auditapp")
    (d / "app.sh").write_text(APP)
    (d / "Dockerfile").write_text(DOCKERFILE)
    docker("build", "-q", "-t", f"{TAG}:latest", str(d), timeout=900)
    return f"{TAG}:latest"


def test_audit_log_to_config_to_working_app(app_image: str, signing_key: Path,
                                            tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    # settings.conf stands for any image file the defaults exclude from the trusted files.
    base.write_text('exclude_trusted: ["/opt/app/settings.conf"]\n')
    strict = gsc("build", app_image, "-c", base, "-k", signing_key, "-t", f"{TAG}:strict", "-q")
    assert strict.returncode == 0, strict.stderr
    r = _run(f"{TAG}:strict")
    assert r.returncode != 0 and "APP-OK" not in r.stdout       # fails under the policy
    assert "gsc-runtime: policy: denied" in r.stderr

    manifest = tmp_path / "audit.toml"
    manifest.write_text(AUDIT_MANIFEST)
    b = gsc("build", app_image, manifest, "-c", base, "-k", signing_key, "-t", f"{TAG}:audit",
            "-q")
    assert b.returncode == 0, b.stderr
    r = _run(f"{TAG}:audit")
    assert r.returncode == 0 and "APP-OK" in r.stdout, r.stderr
    log = tmp_path / "audit.log"
    log.write_text(r.stderr)
    assert "allow_all_but_log: permitting" in r.stderr

    out = tmp_path / "suggested.yaml"
    s = gsc("suggest-config", log, "--image", app_image, "--config", base, "-o", out, "--json")
    assert s.returncode == 0, s.stderr
    report = json.loads(s.stdout)
    assert report["config"] == {"allowed_files": ["/srv/data/"],
                                "trusted_files": ["/opt/app/settings.conf"]}
    assert yaml.safe_load(out.read_text()) == {
        "exclude_trusted": ["/opt/app/settings.conf"], "allowed_files": ["/srv/data/"],
        "trusted_files": ["/opt/app/settings.conf"]}

    fixed = gsc("build", app_image, "-c", out, "-k", signing_key, "-t", f"{TAG}:fixed", "-q")
    assert fixed.returncode == 0, fixed.stderr
    r = _run(f"{TAG}:fixed")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["setting=1", "hello", "APP-OK"]


def test_cli_statuses(tmp_path: Path) -> None:
    empty = tmp_path / "app.log"
    empty.write_text("just app output\n")
    r = gsc("suggest-config", empty, "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["config"] == {}
    assert "nothing to suggest" in r.stderr
    r = gsc("suggest-config", tmp_path / "missing.log")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    log = tmp_path / "deny.log"
    log.write_text("gsc-runtime: policy: denied mkdir /data/x (pid 7): not an allowed path\n")
    r = gsc("suggest-config", log)
    assert r.returncode == 0
    assert yaml.safe_load(r.stdout) == {"allowed_files": ["/data/x/"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("allowed_files: 3\n")
    assert gsc("suggest-config", log, "--config", bad).returncode == 2
