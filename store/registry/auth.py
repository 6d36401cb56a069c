"""Credentials the way the docker CLI keeps them, in $DOCKER_CONFIG/config.json.

Without a credential helper, `auths` entries hold base64 "user:password" in `auth`, keyed by
registry host (Docker Hub's key is its historical index URL). With one (`credHelpers` for a
host, else `credsStore`), the secret lives in that helper, `docker-credential-<name>`, spoken
to over its stdin/stdout protocol, and `auths` only remembers the host. The file is rewritten
atomically with mode 0600 and every other key in it is kept, so bilge and docker can share it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log or a traceback
        return f"Credentials(username={self.username!r}, password=***)"


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def server_key(domain: str) -> str:
    """The `auths` key docker uses for a registry domain."""
    return DOCKER_HUB_KEY if domain in _HUB_ALIASES else domain


def _host_of(key: str) -> str:
    """`https://host[:port]/v1/` or `host` -> host[:port], how docker matches `auths` keys."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in _HUB_ALIASES else host


def _read() -> dict:
    path = config_path()
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: cannot read docker config: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path}: docker config is not a JSON object")
    return doc


def _helper_name(doc: dict, domain: str) -> str | None:
    """The credential helper for `domain`: its own in `credHelpers`, else `credsStore`."""
    for key, name in (doc.get("credHelpers") or {}).items():
        if _host_of(key) == _host_of(domain) and isinstance(name, str) and name:
            return name
    store = doc.get("credsStore")
    return store if isinstance(store, str) and store else None


def _ask_helper(name: str, action: str, payload: str) -> subprocess.CompletedProcess:
    exe = shutil.which(f"docker-credential-{name}")
    if exe is None:
        raise InvalidInput(f"credential helper docker-credential-{name} (named in {config_path()}) is not installed")
    return subprocess.run([exe, action], input=payload, capture_output=True, text=True, timeout=120)


def _helper_failed(name: str, action: str, proc: subprocess.CompletedProcess) -> InvalidInput:
    """The helper's own words (helpers print errors, never secrets, on failure), on one line."""
    said = " ".join((proc.stdout.strip() or proc.stderr.strip() or f"exit status {proc.returncode}").split())
    return InvalidInput(f"docker-credential-{name} {action}: {said[:300]}")


def _from_helper(name: str, domain: str) -> Credentials | None:
    proc = _ask_helper(name, "get", server_key(domain))
    if proc.returncode != 0:
        if "credentials not found" in proc.stdout.lower():
            return None
        raise _helper_failed(name, "get", proc)
    try:
        doc = json.loads(proc.stdout)
        user, secret = doc["Username"], doc["Secret"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"docker-credential-{name} get: answered something that is not credentials") from None
    if user == "<token>":  # an SSO identity token: public images must still pull
        sys.stderr.write(
            f"WARNING: docker-credential-{name} holds an identity token for {server_key(domain)}, which "
            "bilge cannot use; going on without credentials (bilge login stores a password)\n"
        )
        return None
    return Credentials(user, secret) if user and secret else None


def lookup(domain: str) -> Credentials | None:
    """Stored credentials for `domain`, or None to go anonymous."""
    doc = _read()
    helper = _helper_name(doc, domain)
    if helper and (found := _from_helper(helper, domain)):
        return found
    want = _host_of(domain)
    for key, entry in (doc.get("auths") or {}).items():
        if _host_of(key) != want or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise InvalidInput(f"{config_path()}: invalid auth entry for {key}") from None
            return Credentials(user, password)
        if entry.get("username") and entry.get("password"):
            return Credentials(entry["username"], entry["password"])
    return None


def _write(doc: dict) -> None:
    """Replace the file atomically; mkstemp creates the temporary with mode 0600. A symlinked
    config.json (dotfiles kept elsewhere) is written through: its target is replaced, not the link."""
    path = Path(os.path.realpath(config_path()))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent="\t")
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save(domain: str, creds: Credentials) -> str:
    """Store the credentials (in the helper, if there is one); returns where they went."""
    doc = _read()
    auths = doc.setdefault("auths", {})
    helper = _helper_name(doc, domain)
    if helper:
        payload = json.dumps({"ServerURL": server_key(domain), "Username": creds.username, "Secret": creds.password})
        proc = _ask_helper(helper, "store", payload)
        if proc.returncode != 0:
            raise _helper_failed(helper, "store", proc)
        auths[server_key(domain)] = {}  # as docker does: the host is listed, the secret is not here
    else:
        token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        auths[server_key(domain)] = {"auth": token}
    _write(doc)
    return f"docker-credential-{helper}" if helper else str(config_path())


def remove(domain: str) -> bool:
    """Forget `domain`'s credentials, in the helper too; False when there were none."""
    doc = _read()
    erased = False
    if helper := _helper_name(doc, domain):
        proc = _ask_helper(helper, "erase", server_key(domain))
        erased = proc.returncode == 0
        if not erased and "credentials not found" not in proc.stdout.lower():
            raise _helper_failed(helper, "erase", proc)
    auths = doc.get("auths") or {}
    keys = [k for k in auths if _host_of(k) == _host_of(domain)]
    for key in keys:
        del auths[key]
    if keys:
        _write(doc)
    return erased or bool(keys)
