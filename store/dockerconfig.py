"""Docker's container.Config as `docker inspect` prints it: every field in Docker's order.

An image config's `config` may hold only some fields (an OCI config from Podman or umoci has
no Hostname, Tty, …); Docker decodes it into its struct and prints the struct back, so absent
fields show their zero values and the `omitempty` ones are left out when empty.
"""

from __future__ import annotations

import re
from typing import Any

# (field, zero value, omitempty), in container.Config's declaration order.
_FIELDS: tuple[tuple[str, Any, bool], ...] = (
    ("Hostname", "", False),
    ("Domainname", "", False),
    ("User", "", False),
    ("AttachStdin", False, False),
    ("AttachStdout", False, False),
    ("AttachStderr", False, False),
    ("ExposedPorts", None, True),
    ("Tty", False, False),
    ("OpenStdin", False, False),
    ("StdinOnce", False, False),
    ("Env", None, False),
    ("Cmd", None, False),
    ("Healthcheck", None, True),
    ("ArgsEscaped", False, True),
    ("Image", "", False),
    ("Volumes", None, False),
    ("WorkingDir", "", False),
    ("Entrypoint", None, False),
    ("NetworkDisabled", False, True),
    ("MacAddress", "", True),
    ("OnBuild", None, False),
    ("Labels", None, False),
    ("StopSignal", "", True),
    ("StopTimeout", None, True),
    ("Shell", None, True),
)

_RFC3339 = re.compile(r"^(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$")


def docker_config(raw: dict[str, Any] | None) -> dict[str, Any]:
    """`raw` round-tripped through Docker's struct: unknown keys dropped, missing ones zero."""
    raw = raw or {}
    out: dict[str, Any] = {}
    for name, zero, omitempty in _FIELDS:
        value = raw.get(name)
        if value is None:
            value = zero
        if omitempty and not value:
            continue
        out[name] = value
    return out


def go_time(text: str | None) -> str:
    """A config's `created` as Go prints a parsed time (RFC3339Nano): trailing zeros of the
    fraction dropped, a zero offset shown as Z, an absent time as Go's zero time."""
    if not text:
        return "0001-01-01T00:00:00Z"
    m = _RFC3339.match(text)
    if m is None:
        return text
    frac = (m["frac"] or "")[:9].rstrip("0")
    zone = "Z" if m["zone"] in ("Z", "+00:00", "-00:00") else m["zone"]
    return m["base"] + (f".{frac}" if frac else "") + zone
