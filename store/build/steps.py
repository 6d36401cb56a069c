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
from collections.abc import Sequence

from ..errors import InvalidInput
from . import golang
from .dockerfile import healthcheck_options
from .record import Record

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from typing import Any

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOP = "#(nop) "


go_quote = golang.quote_list


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


class Parsed(Record):
    """An instruction's words after variable substitution: `json` for the exec form."""

    __slots__ = ("keyword", "args", "json", "pairs", "flags")

    def __init__(
        self, keyword: str, args: list[str], json: bool, pairs: list[tuple[str, str]], flags: dict[str, str]
    ) -> None:
        self.keyword, self.args, self.json, self.pairs, self.flags = keyword, args, json, pairs, flags


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
    """HEALTHCHECK: the config's Healthcheck (zero durations and retries left out, as Docker's
    JSON omits them) and the history entry Docker writes, `%q` of its HealthConfig. The flags
    were checked when the Dockerfile was parsed."""
    if step.args and step.args[0].upper() == "NONE":
        config["Healthcheck"] = {"Test": ["NONE"]}
        return nop_cmd(config, 'HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}')
    words = list(step.args)
    test = ["CMD", *words[1:]] if step.json else ["CMD-SHELL", " ".join(words[1:])]
    try:
        interval, timeout, start_period, start_interval, retries = healthcheck_options(step.flags)
    except ValueError as e:
        raise InvalidInput(str(e)) from None
    check: dict[str, Any] = {"Test": test}
    for key, ns in (("Interval", interval), ("Timeout", timeout), ("StartPeriod", start_period),
                    ("StartInterval", start_interval), ("Retries", retries)):  # fmt: skip
        if ns:
            check[key] = ns
    config["Healthcheck"] = check
    # Docker 25 added StartInterval to the struct (and --start-interval); 20.10 prints three durations
    shown = [interval, timeout, start_period, *([start_interval] if "start-interval" in step.flags else [])]
    durations = " ".join(json.dumps(golang.duration_string(ns), ensure_ascii=False) for ns in shown)
    return nop_cmd(config, f"HEALTHCHECK &{{{go_quote(test)} {durations} {golang.quote_rune(retries)}}}")
