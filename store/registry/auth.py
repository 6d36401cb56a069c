"""Credentials the way the docker CLI keeps them: `auths` in $DOCKER_CONFIG/config.json.

Entries hold base64 "user:password" in `auth`, keyed by registry host (Docker Hub's key is
its historical index URL). The file is rewritten atomically with mode 0600 and every other
key in it is kept, so bilge and docker can share it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
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


def lookup(domain: str) -> Credentials | None:
    """Stored credentials for `domain`, or None to go anonymous."""
    want = _host_of(domain)
    for key, entry in (_read().get("auths") or {}).items():
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
    """Replace the file atomically; mkstemp creates the temporary with mode 0600."""
    path = config_path()
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


def save(domain: str, creds: Credentials) -> Path:
    doc = _read()
    auths = doc.setdefault("auths", {})
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    auths[server_key(domain)] = {"auth": token}
    _write(doc)
    return config_path()


def remove(domain: str) -> bool:
    """Forget `domain`'s credentials; False when there were none."""
    doc = _read()
    auths = doc.get("auths") or {}
    keys = [k for k in auths if _host_of(k) == _host_of(domain)]
    for key in keys:
        del auths[key]
    if keys:
        _write(doc)
    return bool(keys)
