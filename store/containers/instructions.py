"""The Dockerfile instructions `commit -c` applies to a config, as Docker's BuildFromConfig does.

CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR; exec form
(a JSON array) or shell form (wrapped in /bin/sh -c). As in a build, an ENTRYPOINT clears the
CMD unless a CMD came before it in the same commit.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from typing import Any

from ..errors import InvalidInput

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def apply(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """`config` (Docker's container Config, modified in place) after the instructions."""
    cmd_set = False
    for line in changes:
        word, _, rest = line.strip().partition(" ")
        instruction, rest = word.upper(), rest.strip()
        if instruction not in ALLOWED:
            raise InvalidInput(f"{word} is not a valid change command")
        if not rest:
            raise InvalidInput(f"{instruction} requires at least one argument")
        if instruction == "CMD":
            config["Cmd"], cmd_set = _command(rest), True
        elif instruction == "ENTRYPOINT":
            config["Entrypoint"] = _command(rest)
            if not cmd_set:
                config["Cmd"] = None
        elif instruction == "ENV":
            for key, value in _pairs(rest, instruction):
                config["Env"] = [e for e in config.get("Env") or [] if e.partition("=")[0] != key] + [f"{key}={value}"]
        elif instruction == "LABEL":
            config["Labels"] = {**(config.get("Labels") or {}), **dict(_pairs(rest, instruction))}
        elif instruction == "EXPOSE":
            config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}), **{_port(p): {} for p in rest.split()}}
        elif instruction == "VOLUME":
            config["Volumes"] = {**(config.get("Volumes") or {}), **{v: {} for v in _list(rest)}}
        elif instruction == "WORKDIR":
            config["WorkingDir"] = posixpath.join(config.get("WorkingDir") or "/", rest)
        elif instruction == "USER":
            config["User"] = rest
        elif instruction == "STOPSIGNAL":
            config["StopSignal"] = rest
        else:
            config["OnBuild"] = (config.get("OnBuild") or []) + [rest]
    return config


def _exec_form(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # nested past Go's JSON depth limit too
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def _command(text: str) -> list[str]:
    form = _exec_form(text)
    return form if form is not None else ["/bin/sh", "-c", text]


def _list(text: str) -> list[str]:
    form = _exec_form(text)
    return form if form is not None else text.split()


def _pairs(text: str, instruction: str) -> list[tuple[str, str]]:
    """`k=v k2="v 2"`, or for ENV the legacy `key value with spaces` (one pair)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(f"{instruction} {text}: {exc}") from None
    if "=" not in words[0] and instruction == "ENV":
        key, _, value = text.partition(" ")
        if not value.strip():
            raise InvalidInput(f"{instruction} names must be followed by a value")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{instruction}: {word!r} is not of the form key=value")
        pairs.append((key, value))
    return pairs


def _port(text: str) -> str:
    port, _, proto = text.partition("/")
    if not port.replace("-", "").isdigit():
        raise InvalidInput(f"invalid port: {text}")
    return f"{port}/{proto or 'tcp'}"
