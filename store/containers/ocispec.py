"""The OCI runtime bundle's config.json, made from a container's Docker-shaped config.

What it holds follows Docker's defaults (which `runc spec` mirrors): namespaces mount, pid,
uts, ipc and — unless `--network host` — network; /proc, /dev, /dev/pts, /dev/shm,
/dev/mqueue, /sys, /sys/fs/cgroup; Docker's masked and read-only paths and its default
capability set. The user is resolved as runc and Docker resolve it: names through the
container's own /etc/passwd and /etc/group, read without following links out of the rootfs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInput
from ..layerfs import securepath

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# Files the container sees at /etc/<name>, kept in its directory (Docker's HostnamePath & co).
ETC_FILES = ("hostname", "hosts", "resolv.conf")
_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


@dataclass(frozen=True)
class ExecUser:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)


def process_env(config: dict) -> list[str]:
    """Docker's CreateDaemonEnvironment: PATH, HOSTNAME (and TERM with a tty), then Config.Env wins."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": config.get("Hostname") or ""}
    if config.get("Tty"):
        env["TERM"] = "xterm"
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    return [f"{key}={value}" for key, value in env.items()]


def spec(config: dict, network: str, container_dir: Path, user: ExecUser) -> dict:
    """config.json for `runc run --bundle <container_dir>`, the rootfs being merged/."""
    args = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    namespaces = [{"type": kind} for kind in ("pid", "ipc", "uts", "mount")]
    if network != "host":
        namespaces.append({"type": "network"})
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": bool(config.get("Tty")),
            "user": {
                "uid": user.uid,
                "gid": user.gid,
                **({"additionalGids": user.additional_gids} if user.additional_gids else {}),
            },
            "args": args,
            "env": process_env(config),
            "cwd": config.get("WorkingDir") or "/",
            "capabilities": {kind: CAPABILITIES for kind in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False,
        },
        "root": {"path": "merged", "readonly": False},
        "hostname": config.get("Hostname") or "",
        "mounts": _mounts(network, container_dir),
        "linux": {
            "cgroupsPath": f"/bilge/{container_dir.name}",
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
        },
    }


def _mounts(network: str, container_dir: Path) -> list[dict]:
    # Without its own network namespace a container may not mount sysfs: bind the host's, read-only.
    sysfs = (
        {
            "destination": "/sys",
            "type": "bind",
            "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
        }
        if network == "host"
        else {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": _NOSUID_NOEXEC_NODEV + ["ro"]}
    )
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": _NOSUID_NOEXEC_NODEV + ["mode=1777", "size=65536k"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": _NOSUID_NOEXEC_NODEV},
        sysfs,
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": _NOSUID_NOEXEC_NODEV + ["relatime", "ro"],
        },
        *(
            {
                "destination": f"/etc/{name}",
                "type": "bind",
                "source": str(container_dir / name),
                "options": ["rbind", "rprivate"],
            }
            for name in ETC_FILES
        ),
    ]


def resolve_user(rootfs: Path, user: str) -> ExecUser:
    """`uid`, `name`, `uid:gid`, `name:group`…, as runc's GetExecUser reads the container's files."""
    name, _, group = user.partition(":")
    passwd = _entries(rootfs, "passwd")
    if name.isdigit():
        match = next((e for e in passwd if len(e) > 3 and e[2] == name), None)
        uid = int(name)
    else:
        match = next((e for e in passwd if len(e) > 3 and e[0] == (name or "root")), None)
        if match is None and name:
            raise InvalidInput(f"unable to find user {name}: no matching entries in passwd file")
        uid = int(match[2]) if match else 0
    gid = int(match[3]) if match and match[3].isdigit() else 0
    groups = _entries(rootfs, "group")
    if group.isdigit():
        gid = int(group)
    elif group:
        found = next((e for e in groups if len(e) > 2 and e[0] == group and e[2].isdigit()), None)
        if found is None:
            raise InvalidInput(f"unable to find group {group}: no matching entries in group file")
        gid = int(found[2])
    login = match[0] if match else None
    extra = sorted(
        {
            int(e[2])
            for e in groups
            if login and len(e) > 3 and e[2].isdigit() and login in e[3].split(",") and int(e[2]) != gid
        }
    )
    if uid > 2**31 - 1 or gid > 2**31 - 1:
        raise InvalidInput(f"user {user!r}: uid and gid must be below 2^31")
    return ExecUser(uid, gid, extra)


def _entries(rootfs: Path, name: str) -> list[list[str]]:
    """Lines of /etc/<name> split on ':'; none when it is missing or reached through a link."""
    try:
        parent = securepath.resolve_dir(str(rootfs), ["etc"], f"/etc/{name}", create=False)
        fd = os.open(os.path.join(rootfs, *parent, name), os.O_RDONLY | os.O_NOFOLLOW)
    except (InvalidInput, OSError):
        return []
    with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
