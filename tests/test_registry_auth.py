"""Basic auth against `auth: htpasswd`, the Bearer token flow against `auth: token`
with our own token endpoint, and `bilge login`/`logout` writing Docker's config file.

Every run's output is checked for the password: secrets never appear in output."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
from pathlib import Path

from registry_fixtures import PASSWORD, USER  # type: ignore[import-not-found]


def run(bilge, env: dict, *args: str, input: str | None = None, check: bool = True):
    result = bilge(*args, env=env, input=input, check=check)
    assert PASSWORD not in result.stdout + result.stderr
    return result


def login(bilge, env: dict, host: str, password: str = PASSWORD, check: bool = True):
    return run(bilge, env, "login", host, "-u", USER, "--password-stdin", input=password + "\n", check=check)


def assert_nothing_stored(bilge, bilge_root: Path) -> None:
    assert bilge("images", "-aq").stdout.strip() == ""
    with sqlite3.connect(bilge_root / "bilge.db") as db:
        assert db.execute("SELECT COUNT(*) FROM layers").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    assert list((bilge_root / "ingest").iterdir()) == []
    assert "store is consistent" in bilge("check").stderr


def test_basic_auth_login_pull_logout(bilge, htpasswd_registry, docker_config: dict, bilge_root: Path) -> None:
    reg = htpasswd_registry
    ref = reg.ref("private/busybox:latest")
    anonymous = run(bilge, docker_config, "pull", ref, check=False)
    assert anonymous.returncode == 1 and "authentication required" in anonymous.stderr
    assert_nothing_stored(bilge, bilge_root)

    result = login(bilge, docker_config, reg.host)
    assert result.stdout.strip() == "Login Succeeded"
    config = Path(docker_config["DOCKER_CONFIG"]) / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    entry = json.loads(config.read_text())["auths"][reg.host]
    assert base64.b64decode(entry["auth"]).decode() == f"{USER}:{PASSWORD}"

    run(bilge, docker_config, "pull", ref)
    assert json.loads(bilge("inspect", ref).stdout)[0]["RepoTags"] == [ref]

    out = run(bilge, docker_config, "logout", reg.host)
    assert f"Removing login credentials for {reg.host}" in out.stdout
    assert reg.host not in json.loads(config.read_text())["auths"]


def test_basic_auth_wrong_password(bilge, htpasswd_registry, docker_config: dict, bilge_root: Path) -> None:
    reg = htpasswd_registry
    failed = login(bilge, docker_config, reg.host, password="wrong", check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: ") and len(failed.stderr.strip().splitlines()) == 1
    assert "401" in failed.stderr or "authentication failed" in failed.stderr
    assert not (Path(docker_config["DOCKER_CONFIG"]) / "config.json").exists()

    # A stale password in the config file: a clear error and no partial image.
    config = Path(docker_config["DOCKER_CONFIG"]) / "config.json"
    config.write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(f"{USER}:wrong".encode()).decode()}}}))
    result = run(bilge, docker_config, "pull", reg.ref("private/busybox:latest"), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "401" in result.stderr and "wrong" not in result.stderr
    assert_nothing_stored(bilge, bilge_root)


def test_token_auth_anonymous_pull(bilge, token_registry, docker_config: dict) -> None:
    reg, issuer = token_registry
    ref = reg.ref("public/busybox:latest")
    seen = len(issuer.requests)
    run(bilge, docker_config, "pull", ref)
    assert json.loads(bilge("inspect", ref).stdout)[0]["RepoTags"] == [ref]
    asked = issuer.requests[seen:]
    assert asked and all(user is None and not had_auth for user, _, had_auth in asked)
    assert ["repository:public/busybox:pull"] in [scopes for _, scopes, _ in asked]


def test_token_auth_credentialed_pull_and_push(bilge, token_registry, docker_config: dict, bilge_root: Path) -> None:
    reg, issuer = token_registry
    ref = reg.ref("private/app:v1")
    denied = run(bilge, docker_config, "pull", ref, check=False)
    assert denied.returncode == 1 and "401" in denied.stderr
    assert_nothing_stored(bilge, bilge_root)

    assert login(bilge, docker_config, reg.host).stdout.strip() == "Login Succeeded"
    seen = len(issuer.requests)
    run(bilge, docker_config, "pull", ref)
    assert all(user == USER for user, _, _ in issuer.requests[seen:])
    image_id = json.loads(bilge("inspect", ref).stdout)[0]["Id"]

    target = reg.ref("private/pushed:v1")
    bilge("tag", ref, target)
    run(bilge, docker_config, "push", target)
    assert json.loads(reg.raw_manifest("private/pushed:v1"))["config"]["digest"] == image_id
    # The layers came from private/app: the push mounted them, asking for both scopes in one token.
    assert any(
        sorted(scopes) == ["repository:private/app:pull", "repository:private/pushed:pull,push"]
        for _, scopes, _ in issuer.requests[seen:]
    )


def test_token_auth_wrong_password(bilge, token_registry, docker_config: dict, bilge_root: Path) -> None:
    reg, _ = token_registry
    failed = login(bilge, docker_config, reg.host, password="wrong", check=False)
    assert failed.returncode == 1
    assert "incorrect username or password" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    config = Path(docker_config["DOCKER_CONFIG"]) / "config.json"
    assert not config.exists()
    config.write_text(
        json.dumps({"auths": {f"http://{reg.host}/v1/": {"auth": base64.b64encode(f"{USER}:wrong".encode()).decode()}}})
    )
    result = run(bilge, docker_config, "pull", reg.ref("public/busybox:latest"), check=False)
    assert result.returncode == 1 and "incorrect username or password" in result.stderr
    assert_nothing_stored(bilge, bilge_root)


def test_logout_when_not_logged_in(bilge, docker_config: dict) -> None:
    result = run(bilge, docker_config, "logout", "127.0.0.1:1")
    assert "Not logged in to 127.0.0.1:1" in result.stderr


def test_login_keeps_other_config_keys(bilge, htpasswd_registry, docker_config: dict) -> None:
    config = Path(docker_config["DOCKER_CONFIG"]) / "config.json"
    config.write_text(json.dumps({"auths": {"other.example:5000": {"auth": "eDp5"}}, "detachKeys": "ctrl-x"}))
    login(bilge, docker_config, htpasswd_registry.host)
    doc = json.loads(config.read_text())
    assert doc["detachKeys"] == "ctrl-x"
    assert set(doc["auths"]) == {"other.example:5000", htpasswd_registry.host}
