"""Credential helpers: `credsStore` and `credHelpers` in Docker's config send secrets to
`docker-credential-<name>` instead of the file. Tested with the real docker-credential-pass
(Debian's golang-docker-credential-helpers) over a real `pass` store with a throw-away GnuPG
key, and against the docker CLI, which reads and writes the same helper."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_fixtures import PASSWORD, USER, require  # type: ignore[import-not-found]

KEY = "bilge-test@example.invalid"


@pytest.fixture
def pass_env(tmp_path: Path) -> Iterator[dict]:
    """An initialised `pass` store under tmp_path, and a Docker config dir beside it."""
    require("docker-credential-pass", "to test credential helpers")
    gpg, pass_ = require("gpg", "for pass"), require("pass", "for docker-credential-pass")
    home = tmp_path / "g"  # short: gpg-agent's socket path must fit in 108 bytes
    home.mkdir(mode=0o700)
    env = {
        "GNUPGHOME": str(home),
        "PASSWORD_STORE_DIR": str(tmp_path / "pass"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
    }
    full = {**os.environ, **env}
    subprocess.run(
        [gpg, "--batch", "--passphrase", "", "--quick-gen-key", KEY, "default", "default", "never"],
        env=full,
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run([pass_, "init", KEY], env=full, check=True, capture_output=True, timeout=60)
    Path(env["DOCKER_CONFIG"]).mkdir()
    yield env
    subprocess.run(
        [require("gpgconf", "to stop the test's gpg-agent"), "--kill", "gpg-agent"], env=full, capture_output=True
    )


def helper(env: dict, action: str, payload: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker-credential-pass", action],
        input=payload,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def write_config(env: dict, doc: dict) -> Path:
    path = Path(env["DOCKER_CONFIG"]) / "config.json"
    path.write_text(json.dumps(doc))
    return path


def test_creds_store_login_pull_logout(bilge, htpasswd_registry, pass_env: dict) -> None:
    reg = htpasswd_registry
    config = write_config(pass_env, {"credsStore": "pass"})
    login = bilge("login", reg.host, "-u", USER, "--password-stdin", input=PASSWORD + "\n", env=pass_env)
    assert login.stdout.strip() == "Login Succeeded"
    assert "docker-credential-pass" in login.stderr and PASSWORD not in login.stdout + login.stderr
    text = config.read_text()
    assert PASSWORD not in text and base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in text
    assert json.loads(text)["auths"] == {reg.host: {}}
    assert json.loads(helper(pass_env, "list", "").stdout) == {reg.host: USER}  # the helper's own view
    stored = json.loads(helper(pass_env, "get", reg.host).stdout)
    assert (stored["Username"], stored["Secret"]) == (USER, PASSWORD)

    ref = reg.ref("private/busybox:latest")
    bilge("pull", ref, env=pass_env)
    assert json.loads(bilge("inspect", ref).stdout)[0]["RepoTags"] == [ref]

    out = bilge("logout", reg.host, env=pass_env)
    assert f"Removing login credentials for {reg.host}" in out.stdout
    assert reg.host not in json.loads(helper(pass_env, "list", "").stdout or "{}")
    assert json.loads(config.read_text())["auths"] == {}
    bilge("rmi", ref)
    again = bilge("pull", ref, env=pass_env, check=False)
    assert again.returncode == 1 and "authentication required" in again.stderr


def test_a_login_by_docker_in_a_cred_helper_serves_bilge(bilge, htpasswd_registry, pass_env: dict, dockerd) -> None:
    """`credHelpers` names the helper for one host; docker's own login fills it, bilge pulls with it."""
    reg = htpasswd_registry
    write_config(pass_env, {"credHelpers": {reg.host: "pass"}})
    env_config = ["--config", pass_env["DOCKER_CONFIG"]]
    docker_env = {**os.environ, **dockerd.env, **pass_env}
    subprocess.run(
        [dockerd.cli, "-H", dockerd.host, *env_config, "login", reg.host, "-u", USER, "--password-stdin"],
        input=PASSWORD,
        text=True,
        env=docker_env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert json.loads(helper(pass_env, "get", reg.host).stdout)["Username"] == USER
    ref = reg.ref("private/busybox:latest")
    bilge("pull", ref, env=pass_env)
    assert json.loads(bilge("inspect", ref).stdout)[0]["RepoTags"] == [ref]


def test_a_missing_helper_is_one_clear_line(bilge, htpasswd_registry, tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "docker")}
    Path(env["DOCKER_CONFIG"]).mkdir()
    write_config(env, {"credsStore": "no-such-helper"})
    result = bilge("pull", htpasswd_registry.ref("private/busybox:latest"), env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: credential helper docker-credential-no-such-helper (named in {env['DOCKER_CONFIG']}/config.json) is not installed"
    ]


def test_an_identity_token_in_the_helper_still_pulls_public_images(bilge, registry, pass_env: dict) -> None:
    """Docker Desktop's SSO stores an identity token bilge cannot use: warn, then go anonymous."""
    write_config(pass_env, {"credHelpers": {registry.host: "pass"}})
    stored = helper(
        pass_env, "store", json.dumps({"ServerURL": registry.host, "Username": "<token>", "Secret": "t0k3n"})
    )
    assert stored.returncode == 0, stored.stdout + stored.stderr
    result = bilge("pull", registry.ref("fixtures/busybox:latest"), env=pass_env)
    assert "WARNING: docker-credential-pass holds an identity token" in result.stderr
    assert "t0k3n" not in result.stdout + result.stderr
