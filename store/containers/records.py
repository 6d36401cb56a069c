"""The container store: one row per container and its directory under containers/<id>/.

The row (table `containers`) is what the rest of bilge reads: state, image, labels, times,
exit code, the driver and runtime it was made with, and the writable layer's size, measured
when the container stops. `config` holds Docker's container Config (Cmd, Entrypoint, Env,
WorkingDir, User, Labels, Tty, …) plus the HostConfig bits we honour.

Every change of a container's state happens under its lock (an flock on containers/<id>/lock),
so `start`, the shim recording an exit, `stop`, `rm` and `commit` never interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import testpoints
from ..core import Store
from ..db import write
from ..errors import Conflict, InvalidInput, NotFound
from ..fsutil import new_scratch_dir
from ..leases import Lease
from . import drivers, names, rootfs

STATES = ("created", "running", "exited")


@dataclass
class CreateOptions:
    """What `create` and `run` take besides the image: Docker's flags of the same names."""

    image: str
    command: list[str] = field(default_factory=list)
    name: str | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    entrypoint: str | None = None
    labels: list[str] = field(default_factory=list)
    hostname: str | None = None
    interactive: bool = False
    tty: bool = False
    detach: bool = False
    auto_remove: bool = False
    network: str = "none"
    storage_driver: str | None = None
    runtime: str | None = None


@dataclass
class Container:
    id: str
    name: str
    image_id: str
    state: str
    created: float
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    pid: int | None
    driver: str
    runtime: str
    config: dict[str, Any]
    labels: dict[str, str]
    size_rw: int | None
    disk_rw: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Container:
        values = dict(row)
        values["config"] = json.loads(values["config"] or "{}")
        values["labels"] = json.loads(values["labels"] or "{}")
        return cls(**values)

    @property
    def docker_config(self) -> dict[str, Any]:
        """Docker's container Config, as `inspect` shows it and `commit` records it."""
        return self.config["Config"]

    @property
    def host_config(self) -> dict[str, Any]:
        return self.config["HostConfig"]

    @property
    def argv(self) -> list[str]:
        config = self.docker_config
        return (config.get("Entrypoint") or []) + (config.get("Cmd") or [])


_COLUMNS = (
    "id",
    "name",
    "image_id",
    "state",
    "created",
    "started_at",
    "finished_at",
    "exit_code",
    "pid",
    "driver",
    "runtime",
    "config",
    "labels",
    "size_rw",
    "disk_rw",
)
_held: dict[str, list[int]] = {}


class ContainerStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self.layout = store.layout

    def path(self, cid: str) -> Path:
        return self.layout.containers / cid

    # -- reading -----------------------------------------------------------------------------

    def get(self, cid: str) -> Container | None:
        rows = list(self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM containers WHERE id = ?", [cid]))
        return Container.from_row(rows[0]) if rows else None

    def lookup(self, ref: str) -> Container:
        """By full ID, name (with or without Docker's slash), or unique ID prefix, as Docker does."""
        found = self.get(ref)
        if found is None:
            row = self.db.execute("SELECT id FROM containers WHERE name = ?", [ref.removeprefix("/")]).fetchone()
            if row is None and ref and all(c in "0123456789abcdef" for c in ref):
                rows = self.db.execute(
                    "SELECT id FROM containers WHERE id >= ? AND id < ? LIMIT 2", [ref, ref + "g"]
                ).fetchall()
                if len(rows) > 1:
                    raise Conflict(f"multiple IDs found with provided prefix: {ref}")
                row = rows[0] if rows else None
            found = self.get(row[0]) if row else None
        if found is None:
            raise NotFound(f"No such container: {ref}")
        return found

    def all(self) -> list[Container]:
        return [
            Container.from_row(r)
            for r in self.db.query(f"SELECT {', '.join(_COLUMNS)} FROM containers ORDER BY created DESC")
        ]

    # -- creating ----------------------------------------------------------------------------

    def create(self, opts: CreateOptions, runtime: str, hold: Lease | None = None) -> Container:
        """Make the directory under ingest/ (a vfs copy can take a while), then rename it into
        containers/ and insert the row in one transaction, touching the image's last-used time."""
        store = self.store
        name = names.check_name(opts.name) if opts.name is not None else None
        with store.lease("create") as lease:
            image_id = store.images.hold(opts.image, lease)
            ancestry = drivers.image_ancestry(store, image_id)
            cid = names.new_id()
            config = container_config(store.images.config(image_id), opts, cid)
            driver = drivers.choose(self.layout, ancestry, opts.storage_driver)
            (self.layout.ingest / lease.id).mkdir(exist_ok=True)
            work = new_scratch_dir(self.layout.ingest / lease.id, "container-")
            rootfs.make_init_layer(work / "init")
            disk = driver.prepare(self.layout, work, ancestry)
            testpoints.reached("create")
            with write(self.db):
                lease.add("image", image_id)
                if hold is not None:  # a build step's: no prune takes it before its commit
                    hold.add("container", cid)
                name = self._claim_name(name, cid)
                store.trash.claim(f"containers/{cid}")
                os.rename(work, self.path(cid))
                self.db.execute(
                    "INSERT INTO containers (id, name, image_id, state, created, driver, runtime, config, labels,"
                    " size_rw, disk_rw) VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?, 0, ?)",
                    [
                        cid,
                        name,
                        image_id,
                        time.time(),
                        driver.name,
                        runtime,
                        json.dumps(config),
                        json.dumps(config["Config"]["Labels"]),
                        disk,
                    ],
                )
                store.images.touch(image_id)
        found = self.get(cid)
        assert found is not None
        return found

    def _claim_name(self, name: str | None, cid: str) -> str:
        def taken(candidate: str) -> bool:
            return self.db.execute("SELECT 1 FROM containers WHERE name = ?", [candidate]).fetchone() is not None

        if name is None:
            return names.random_name(taken)
        if taken(name):
            other = self.db.execute("SELECT id FROM containers WHERE name = ?", [name]).fetchone()[0]
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container "{other}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            )
        return name

    # -- state -------------------------------------------------------------------------------

    def set_running(self, cid: str, pid: int) -> None:
        """Running from now: the sizes stored at the last stop stay until the next one."""
        with write(self.db):
            self.db.execute(
                "UPDATE containers SET state = 'running', pid = ?, started_at = ?, finished_at = NULL,"
                " exit_code = NULL WHERE id = ?",
                [pid, time.time(), cid],
            )

    def set_exit_code(self, cid: str, code: int) -> None:
        """A start that failed: the state stays, the exit code says why (Docker's 126/127)."""
        with write(self.db):
            self.db.execute("UPDATE containers SET exit_code = ? WHERE id = ?", [code, cid])

    def set_exited(self, cid: str, code: int, finished: float, size: int, disk: int) -> None:
        with write(self.db):
            self.db.execute(
                "UPDATE containers SET state = 'exited', pid = NULL, exit_code = ?, finished_at = ?,"
                " size_rw = ?, disk_rw = ? WHERE id = ?",
                [code, finished, size, disk, cid],
            )

    def delete(self, cid: str) -> None:
        """The row and, through the trash, the directory: one transaction, then the deletion."""
        with write(self.db):
            self.drop(cid)
        self.store.trash.finish()

    def drop(self, cid: str) -> None:
        """Inside a write transaction, holding the container's lock: unmount, drop the row, queue the directory."""
        rootfs.unmount(self.path(cid) / "merged")
        self.db.execute("DELETE FROM containers WHERE id = ?", [cid])
        self.store.trash.queue([f"containers/{cid}"])

    @contextmanager
    def locked_if_free(self, cid: str) -> Iterator[bool]:
        """The container's lock without waiting: False when another process holds it (a start
        in progress), so a prune can skip the container instead of blocking on it."""
        try:
            fd = os.open(self.path(cid) / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    @contextmanager
    def locked(self, cid: str) -> Iterator[None]:
        """Hold the container's lock; re-entrant within this process."""
        if cid in _held:
            _held[cid][1] += 1
            try:
                yield
            finally:
                _held[cid][1] -= 1
            return
        try:
            fd = os.open(self.path(cid) / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _held[cid] = [fd, 1]
            yield
        finally:
            _held.pop(cid, None)
            os.close(fd)


def container_config(image_config: dict, opts: CreateOptions, cid: str) -> dict[str, Any]:
    """Docker's merge of the image's config and the flags, in the field order Docker writes."""
    image = image_config.get("config") or {}
    if opts.entrypoint is not None:
        # A new entrypoint drops the image's Cmd too; --entrypoint "" clears it (Docker's rules).
        entrypoint = [opts.entrypoint] if opts.entrypoint else None
        cmd = list(opts.command) or None
    else:
        entrypoint = image.get("Entrypoint") or None
        cmd = list(opts.command) or image.get("Cmd") or None
    if not (entrypoint or cmd):
        raise InvalidInput("No command specified")
    workdir = opts.workdir if opts.workdir is not None else image.get("WorkingDir") or ""
    if opts.workdir and not opts.workdir.startswith("/"):
        raise InvalidInput(f"the working directory '{opts.workdir}' is invalid, it needs to be an absolute path")
    if opts.network not in ("none", "host"):
        raise InvalidInput(f"network {opts.network!r} is not supported (choose none or host)")
    hostname = opts.hostname or (_host_name() if opts.network == "host" else cid[:12])
    labels = dict(image.get("Labels") or {})
    for item in opts.labels:
        key, _, value = item.partition("=")
        labels[key] = value
    attach = not opts.detach
    config: dict[str, Any] = {
        "Hostname": hostname,
        "Domainname": "",
        "User": opts.user if opts.user is not None else image.get("User") or "",
        "AttachStdin": opts.interactive and attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
    }
    if image.get("ExposedPorts"):
        config["ExposedPorts"] = image["ExposedPorts"]
    config.update(
        {
            "Tty": opts.tty,
            "OpenStdin": opts.interactive,
            "StdinOnce": opts.interactive and attach,
            "Env": merge_env(_user_env(opts.env), image.get("Env") or []),
            "Cmd": cmd,
            "Image": opts.image,
            "Volumes": image.get("Volumes"),
            "WorkingDir": workdir,
            "Entrypoint": entrypoint,
        }
    )
    config.update({"OnBuild": image.get("OnBuild"), "Labels": labels})
    if image.get("StopSignal"):
        config["StopSignal"] = image["StopSignal"]
    host = {"NetworkMode": opts.network, "AutoRemove": opts.auto_remove}
    return {"Config": config, "HostConfig": host}


def _host_name() -> str:
    import socket  # only host-network containers take the host's name

    return socket.gethostname()


def _user_env(items: list[str]) -> list[str]:
    """-e KEY=VALUE as given; -e KEY takes the value from our environment, or is dropped."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def merge_env(first: list[str], then: list[str]) -> list[str]:
    """`first`, then each of `then` whose key `first` does not set (Docker's merge)."""
    keys = {item.partition("=")[0] for item in first}
    return first + [item for item in then if item.partition("=")[0] not in keys]
