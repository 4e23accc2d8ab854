"""The CI recipes in examples/ci/, run locally: the shell of each GitHub Actions step and
each GitLab job script, as written, with CI secrets and variables supplied as the CI
would (a local docker-registry on 127.0.0.1 stands in for the CI registry, SoftHSM2 for
the HSM). Steps that only exist in CI (checkout, install, login, artifact upload) are
skipped by name, and the test fails if a recipe grows a step it does not know."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import local_registry
import pytest
import yaml

from . import intoto
from .conftest import USER_PIN, SoftHsm, gsc, make_softhsm, softhsm_module

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "examples" / "ci"
BASE = os.environ.get("GSC_TEST_BASE", "gsc-local/debian:bookworm")
GITHUB_RUN_STEPS = ("names", "build", "shield", "verify", "push")
GITHUB_SKIPPED = {"install"}  # plus every `uses:` step


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("Docker Engine is not running (scripts/setup starts it)")
    r = local_registry.start()
    try:
        yield r.host
    finally:
        r.stop()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An encrypted PEM release key, an unrelated key, and a key made inside SoftHSM2."""
    d = tmp_path_factory.mktemp("ci-keys")
    passphrase = "ci-passphrase-Zq7"
    pf = d / "pass"
    pf.write_text(passphrase + "\n")
    pem = gsc("gen-key", d / "release.pem", "--passphrase-file", pf, "--json")
    other = gsc("gen-key", d / "other.pem", "--json")
    assert pem.code == 0 and other.code == 0, pem.err + other.err
    hsm = make_softhsm(d / "hsm", token="ci-release")
    made = gsc("gen-key", hsm.uri("sgx-release", pin=False), "--json",
               env={**hsm.env, "GSC_PKCS11_PIN": USER_PIN})
    assert made.code == 0, made.err
    return {
        "pem": (d / "release.pem").read_text(), "passphrase": passphrase,
        "mrsigner": pem.json()["mrsigner"], "other_mrsigner": other.json()["mrsigner"],
        "hsm": hsm, "hsm_uri": made.json()["key"], "hsm_mrsigner": made.json()["mrsigner"],
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A checkout-like directory holding the example the recipes build."""
    w = tmp_path / "checkout"
    shutil.copytree(REPO / "examples" / "hello", w / "examples" / "hello")
    return w


def _tool_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GSC_", "GITHUB_", "CI_", "SOFTHSM2_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


# --------------------------------------------------------------------------- GitHub Actions

_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def _expand_github(value: Any, ctx: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in ctx:
            raise AssertionError(f"recipe uses ${{{{ {m.group(1)} }}}}, unknown to the test")
        return ctx[m.group(1)]

    return _EXPR.sub(one, str(value))


def run_github_job(job: str, ctx: dict[str, str], overrides: dict[str, str], cwd: Path,
                   base_env: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    """Run the job's run-steps in order; (exit status of the last, all output, env)."""
    wf = yaml.safe_load((RECIPES / "github-actions.yml").read_text())
    spec = wf["jobs"][job]
    env = {**base_env}
    for layer in (wf.get("env", {}), spec.get("env", {})):
        env.update({k: _expand_github(v, ctx) for k, v in layer.items()})
    env.update(overrides)
    github_env = cwd.parent / f"github-env-{job}"
    github_env.write_text("")
    runner_temp = cwd.parent / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    env.update({"GITHUB_ENV": str(github_env), "RUNNER_TEMP": str(runner_temp)})
    ran, log = [], ""
    for step in spec["steps"]:
        if "uses" in step:
            continue
        if step.get("id") in GITHUB_SKIPPED:
            continue
        assert step.get("id") in GITHUB_RUN_STEPS, f"unknown step {step.get('id')!r} in {job}"
        assert "${{" not in step["run"], "expressions belong in env:, not in run:"
        step_env = {**env, **{k: _expand_github(v, ctx) for k, v in step.get("env", {}).items()}}
        r = _bash(step["run"], cwd, step_env)
        log += r.stdout + r.stderr
        ran.append(step["id"])
        if r.returncode != 0:
            return r.returncode, log + f"\n[step {step['id']} failed]", env
        for line in github_env.read_text().splitlines():
            k, _, v = line.partition("=")
            env[k] = v
    assert tuple(ran) == GITHUB_RUN_STEPS
    return 0, log, env


# --------------------------------------------------------------------------- GitLab CI

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _expand_gitlab(value: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


def run_gitlab_job(job: str, predefined: dict[str, str], cicd: dict[str, str],
                   overrides: dict[str, str], cwd: Path,
                   base_env: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    doc = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    spec = dict(doc[job])
    parent = doc.get(spec.get("extends", ""), {})
    assert [ln.split()[0:3] for ln in parent.get("before_script", [])] == [
        ["python3", "-m", "pip"], ["printf", "'%s'", '"$CI_REGISTRY_PASSWORD"']
    ], "before_script must only install gsc and log in (the test skips it)"
    env = {**base_env, **predefined, **cicd}
    for layer in (doc.get("variables", {}), parent.get("variables", {}),
                  spec.get("variables", {})):
        for k, v in layer.items():
            env[k] = _expand_gitlab(str(v), env)
    env.update(overrides)
    r = _bash("\n".join(spec["script"]), cwd, env)
    return r.returncode, r.stdout + r.stderr, env


# --------------------------------------------------------------------------- checks


def _registry_digest(registry: str, image: str) -> str | None:
    name, _, tag = image.removeprefix(registry + "/").rpartition(":")
    req = urllib.request.Request(
        f"http://{registry}/v2/{name}/manifests/{tag}", method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                           "application/vnd.oci.image.manifest.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(resp.headers["Docker-Content-Digest"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def _check_published(registry: str, cwd: Path, env: dict[str, str], mrsigner: str,
                     log: str) -> None:
    image = env["IMAGE"]
    assert image.startswith(f"{registry}/") and image == image.lower()
    build = json.loads((cwd / "build.json").read_text())
    assert build["signed"] is True and build["mrsigner"] == mrsigner
    statement = json.loads((cwd / "provenance.intoto.json").read_text())
    assert intoto.problems(statement) == []
    image_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", image],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert statement["subject"] == [{"name": image,
                                     "digest": {"sha256": image_id.split(":", 1)[1]}}]
    assert statement["predicate"]["enclave"]["mrsigner"] == mrsigner
    pushed = (cwd / "pushed-digest.txt").read_text().strip()
    repo, _, digest = pushed.partition("@")
    assert repo == image.rpartition(":")[0]
    assert _registry_digest(registry, image) == digest
    assert USER_PIN not in log


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    refs: list[str] = []
    yield refs
    for r in refs:
        subprocess.run(["docker", "rmi", "-f", r], capture_output=True)


def _github_ctx(keys: dict[str, Any], sha: str, expected_mrsigner: str) -> dict[str, str]:
    hsm: SoftHsm = keys["hsm"]
    return {
        "github.repository_owner": "Release-Test", "github.sha": sha,
        "secrets.GSC_SIGNING_KEY": keys["pem"], "secrets.GSC_KEY_PASSPHRASE": keys["passphrase"],
        "secrets.GSC_PKCS11_PIN": USER_PIN,
        "vars.GSC_PKCS11_KEY_URI": keys["hsm_uri"].split("?")[0],
        "vars.GSC_PKCS11_MODULE": softhsm_module(),
        "vars.GSC_EXPECTED_MRSIGNER": expected_mrsigner,
        "_hsm_conf": hsm.env["SOFTHSM2_CONF"],
    }


@pytest.mark.parametrize("job", ["shield-pem", "shield-pkcs11"])
def test_github_actions_recipe(job: str, registry: str, keys: dict[str, Any], workdir: Path,
                               cleanup: list[str]) -> None:
    sha = f"{'1' if job == 'shield-pem' else '2'}{'a' * 39}"
    mrsigner = keys["mrsigner"] if job == "shield-pem" else keys["hsm_mrsigner"]
    ctx = _github_ctx(keys, sha, mrsigner)
    base_env = _tool_env({"SOFTHSM2_CONF": ctx.pop("_hsm_conf")})
    overrides = {"REGISTRY": f"{registry}/Release-Test", "BASE_IMAGE": BASE}
    code, log, env = run_github_job(job, ctx, overrides, workdir, base_env)
    cleanup += [env.get("IMAGE", ""), env.get("SRC_IMAGE", "")]
    assert code == 0, log
    _check_published(registry, workdir, env, mrsigner, log)
    # The key file written from the secret is gone, and was never readable by others.
    assert not list((workdir.parent / "runner-temp").iterdir())


def test_github_actions_recipe_refuses_an_unpinned_signer(
    registry: str, keys: dict[str, Any], workdir: Path, cleanup: list[str]
) -> None:
    """Signed by the release key but pinned to another MRSIGNER: verify fails, no push."""
    ctx = _github_ctx(keys, "3" + "b" * 39, keys["other_mrsigner"])
    base_env = _tool_env({"SOFTHSM2_CONF": ctx.pop("_hsm_conf")})
    overrides = {"REGISTRY": f"{registry}/release-test", "BASE_IMAGE": BASE}
    code, log, env = run_github_job("shield-pem", ctx, overrides, workdir, base_env)
    cleanup += [env.get("IMAGE", ""), env.get("SRC_IMAGE", "")]
    assert code == 1 and "[step verify failed]" in log, log
    assert "MRSIGNER" in log
    assert _registry_digest(registry, env["IMAGE"]) is None


@pytest.mark.parametrize("job", ["shield-pem", "shield-pkcs11"])
def test_gitlab_ci_recipe(job: str, registry: str, keys: dict[str, Any], workdir: Path,
                          tmp_path: Path, cleanup: list[str]) -> None:
    hsm: SoftHsm = keys["hsm"]
    key_file = tmp_path / "GSC_SIGNING_KEY"  # a GitLab "File" variable is a path
    key_file.write_text(keys["pem"])
    key_file.chmod(0o600)
    sha = f"{'4' if job == 'shield-pem' else '5'}{'c' * 39}"
    predefined = {"CI_COMMIT_SHA": sha, "CI_REGISTRY_IMAGE": f"{registry}/group/project"}
    cicd = {"GSC_SIGNING_KEY": str(key_file), "GSC_KEY_PASSPHRASE": keys["passphrase"],
            "GSC_PKCS11_PIN": USER_PIN, "GSC_PKCS11_KEY_URI": keys["hsm_uri"].split("?")[0],
            "GSC_PKCS11_MODULE": softhsm_module(),
            "GSC_EXPECTED_MRSIGNER": keys["mrsigner"] if job == "shield-pem"
            else keys["hsm_mrsigner"]}
    code, log, env = run_gitlab_job(job, predefined, cicd, {"BASE_IMAGE": BASE}, workdir,
                                    _tool_env(dict(hsm.env)))
    cleanup += [env.get("IMAGE", ""), env.get("SRC_IMAGE", "")]
    assert code == 0, log
    _check_published(registry, workdir, env, cicd["GSC_EXPECTED_MRSIGNER"], log)
