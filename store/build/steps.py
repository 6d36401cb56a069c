"""What each metadata instruction does to the build's config, and how Docker records it.

The classic builder keeps a "run config" (the image's Config as it will be) and commits an
image after every instruction. Metadata instructions change only that config; the history
entry's `created_by` is the container command Docker would have run,
`/bin/sh -c #(nop)  <comment>`, and that command is also what the build cache compares. The
comments below are moby's (builder/dockerfile/dispatchers.go), byte for byte, because they
are what `docker history` shows and what a second build must find again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOP = "#(nop) "


def go_quote(items: Sequence[str]) -> str:
    """Go's `%q` of a []string: `["a" "b"]`, each element as strconv.Quote writes it."""
    return "[" + " ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


def empty_config() -> dict[str, Any]:
    """The Config of a stage built FROM scratch, as Docker's classic builder starts it."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": [DEFAULT_PATH],
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }


def shell_of(config: dict[str, Any]) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def nop_cmd(config: dict[str, Any], comment: str) -> list[str]:
    """The container command a metadata step records (`withCmdComment`): two words after the shell."""
    return [*shell_of(config), NOP, comment]


def nop_cmd_string(config: dict[str, Any], comment: str) -> list[str]:
    """COPY, ADD and WORKDIR record theirs as one word (`withCmdCommentString`)."""
    return [*shell_of(config), NOP + comment]


def created_by(cmd: Sequence[str]) -> str:
    return " ".join(cmd)


@dataclass(frozen=True)
class Parsed:
    """An instruction's words after variable substitution: `json` for the exec form."""

    keyword: str
    args: list[str]
    json: bool
    pairs: list[tuple[str, str]]
    flags: dict[str, str]


def set_env(config: dict[str, Any], key: str, value: str) -> None:
    """Replace `key` in place, else append (Docker keeps the original order)."""
    env = list(config.get("Env") or [])
    for i, item in enumerate(env):
        if item.partition("=")[0] == key:
            env[i] = f"{key}={value}"
            break
    else:
        env.append(f"{key}={value}")
    config["Env"] = env


def env_map(config: dict[str, Any]) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in config.get("Env") or [])


def _command(step: Parsed, config: dict[str, Any]) -> list[str]:
    """CMD/ENTRYPOINT/RUN words: the exec form as written, the shell form through the shell."""
    return list(step.args) if step.json else [*shell_of(config), " ".join(step.args)]


def _go_duration(text: str, flag: str) -> int:
    """Nanoseconds from a Go duration (`30s`, `1m30s`)."""
    units = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    total, rest = 0.0, text
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        total += float(number) * units[unit]
        rest = rest.replace(number + unit, "", 1)
    if rest or not text:
        raise InvalidInput(f"invalid value for --{flag}: time: invalid duration {text!r}")
    return int(total)


def _go_duration_string(ns: int) -> str:
    """Go's time.Duration.String for the whole-second values healthchecks use."""
    if ns == 0:
        return "0s"
    seconds, hours = ns / 10**9, int(ns // (3600 * 10**9))
    minutes = int(ns // (60 * 10**9)) % 60
    secs = seconds - hours * 3600 - minutes * 60
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def apply(step: Parsed, config: dict[str, Any]) -> list[str]:
    """Change `config` (the run config, in place) for a metadata instruction; returns the
    container command its image records, which the cache compares."""
    keyword = step.keyword
    if keyword == "ENV":
        for key, value in step.pairs:
            set_env(config, key, value)
        return nop_cmd(config, "ENV" + "".join(f" {k}={v}" for k, v in step.pairs))
    if keyword == "LABEL":
        labels = dict(config.get("Labels") or {})
        labels.update(step.pairs)
        config["Labels"] = labels
        return nop_cmd(config, "LABEL" + "".join(f" {k}={v}" for k, v in step.pairs))
    if keyword == "MAINTAINER":
        return nop_cmd(config, "MAINTAINER " + " ".join(step.args))
    if keyword == "CMD":
        config["Cmd"] = _command(step, config)
        return nop_cmd(config, f"CMD {go_quote(config['Cmd'])}")
    if keyword == "ENTRYPOINT":
        config["Entrypoint"] = _command(step, config) if step.args else None
        if not step.args:
            config["Entrypoint"] = [""] if step.json else None
        return nop_cmd(config, f"ENTRYPOINT {go_quote(config['Entrypoint'] or [])}")
    if keyword == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for port in step.args:
            ports[port if "/" in port else port + "/tcp"] = {}
        config["ExposedPorts"] = ports
        return nop_cmd(config, "EXPOSE " + " ".join(step.args))
    if keyword == "USER":
        config["User"] = step.args[0]
        return nop_cmd(config, "USER " + step.args[0])
    if keyword == "VOLUME":
        volumes = dict(config.get("Volumes") or {})
        for volume in step.args:
            if not volume.strip():
                raise InvalidInput("VOLUME specified can not be an empty string")
            volumes[volume] = {}
        config["Volumes"] = volumes
        return nop_cmd(config, "VOLUME [" + " ".join(step.args) + "]")
    if keyword == "STOPSIGNAL":
        config["StopSignal"] = step.args[0]
        return nop_cmd(config, "STOPSIGNAL " + step.args[0])
    if keyword == "SHELL":
        if not step.json:
            raise InvalidInput("SHELL requires the arguments to be in JSON form")
        config["Shell"] = list(step.args)
        return nop_cmd(config, f"SHELL {go_quote(step.args)}")
    if keyword == "ONBUILD":
        config["OnBuild"] = [*(config.get("OnBuild") or []), " ".join(step.args)]
        return nop_cmd(config, "ONBUILD " + " ".join(step.args))
    if keyword == "HEALTHCHECK":
        return _healthcheck(step, config)
    raise InvalidInput(f"unknown instruction: {keyword}")


def _healthcheck(step: Parsed, config: dict[str, Any]) -> list[str]:
    if step.args and step.args[0].upper() == "NONE":
        config["Healthcheck"] = {"Test": ["NONE"]}
        return nop_cmd(config, 'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}')
    words = list(step.args)
    if not words or words[0].upper() != "CMD":
        raise InvalidInput("Unknown type in HEALTHCHECK (try CMD)")
    test = ["CMD", *words[1:]] if step.json else ["CMD-SHELL", " ".join(words[1:])]
    check: dict[str, Any] = {"Test": test}
    times = {}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
        ns = _go_duration(step.flags[flag], flag) if flag in step.flags else 0
        times[key] = ns
        if ns:
            check[key] = ns
    retries = int(step.flags.get("retries", "0"))
    if retries:
        check["Retries"] = retries
    config["Healthcheck"] = check
    shown = " ".join(json.dumps(_go_duration_string(times[k])) for k in ("Interval", "Timeout", "StartPeriod"))
    quoted_retries = (
        "'" + (chr(retries) if 32 <= retries < 127 and chr(retries) not in "'\\" else f"\\x{retries:02x}") + "'"
    )
    return nop_cmd(config, f"HEALTHCHECK &{{{go_quote(test)} {shown} {quoted_retries}}}")
