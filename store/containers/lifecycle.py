"""start, stop, kill, rm, and finding out what a container is really doing.

A started container's `runc run` is watched by a shim (store/shim.py): a small process of
its own that records the exit code and the writable layer's size when the container ends,
whether or not the bilge that started it is still there. The database says `running` with
the container's pid; `refresh` checks that against the kernel (psutil) and the runtime, so a
container that died while nobody watched is found exited on the next command — with the
exit code the shim saw, or 255 when the shim died too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..core import Store
from ..errors import BilgeError, Conflict, InvalidInput, NotFound
from . import ocispec, rootfs, runtime
from .drivers import driver_for
from .records import Container

UNKNOWN_EXIT = 255
SETTLE_SECONDS = 10.0
_POLL = 0.02
# Forwarded from an attached bilge to the shim (and by the shim to the runtime, which forwards
# them to the container). SIGINT and SIGQUIT from a terminal already reach the runtime, which
# shares our process group, so we only ignore those.
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
_DOCKER_HOSTS = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)


class StartFailed(BilgeError):
    """The runtime could not start the process; exit_code is Docker's (125, 126 or 127)."""


@dataclass
class Launched:
    container: Container
    shim: subprocess.Popen | None  # the attached shim to wait for; None when detached


def runtime_for(store: Store, c: Container) -> runtime.Runtime:
    return runtime.Runtime(runtime.find(c.runtime), runtime.state_root(store.layout))


def refresh(store: Store, c: Container) -> Container | None:
    """The container as it really is (None once it is gone: --rm); settles a dead one."""
    if c.state != "running" or _alive(store, c):
        return c
    settle(store, c)
    return store.containers.get(c.id)


def _alive(store: Store, c: Container) -> bool:
    if c.pid is None or not _pid_alive(c.pid):
        return False
    try:
        state = runtime_for(store, c).state(c.id)
    except runtime.RuntimeMissing:
        return True  # cannot ask: the kernel's word must do
    return state is not None and state.get("pid") == c.pid and state.get("status") in ("running", "paused", "created")


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _shim_alive(directory: Path) -> bool:
    import psutil

    try:
        pid = int((directory / "shim.pid").read_text())
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and directory.name in proc.cmdline()
    except (OSError, ValueError, psutil.Error):
        return False


def settle(store: Store, c: Container) -> None:
    """The process is dead: give its shim a moment to record the end, else record it ourselves."""
    containers = store.containers
    directory = containers.path(c.id)
    deadline = time.monotonic() + SETTLE_SECONDS
    while _shim_alive(directory) and time.monotonic() < deadline:
        now = containers.get(c.id)
        if now is None or now.state != "running" or now.pid != c.pid:
            return
        time.sleep(_POLL)
    code, finished = read_exit(directory, c.pid)
    finalize(store, c.id, c.pid, code, finished)


def read_exit(directory: Path, pid: int | None) -> tuple[int, float]:
    """What the shim wrote when the process ended, if it got to write it."""
    try:
        record = json.loads((directory / "exit.json").read_text())
        if record.get("pid") == pid:
            return int(record["code"]), float(record["finished"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return UNKNOWN_EXIT, time.time()


def finalize(store: Store, cid: str, pid: int | None, code: int, finished: float) -> None:
    """Record the end of run `pid`: unmount, measure the writable layer, mark exited. Idempotent."""
    containers = store.containers
    try:
        with containers.locked(cid):
            c = containers.get(cid)
            if c is None or c.state != "running" or c.pid != pid:
                return
            rootfs.unmount(containers.path(cid) / "merged")
            size, disk = driver_for(c.driver).writable_size(store, c)
            containers.set_exited(cid, code, finished, size, disk)
    except NotFound:
        return
    try:
        rt = runtime_for(store, c)
        if rt.state(cid) is not None:
            rt.delete(cid)  # its runtime died with it: clear the runtime's record
    except runtime.RuntimeMissing:
        pass


# -- start ---------------------------------------------------------------------------------


def start(store: Store, c: Container, attach: bool, interactive: bool) -> Launched:
    """Mount, write the bundle, start the shim and wait until the process runs (or failed)."""
    containers = store.containers
    current = refresh(store, c)
    if current is None:
        raise NotFound(f"No such container: {c.id}")
    if os.geteuid() != 0:
        raise InvalidInput("running containers needs root: rootless containers are not supported yet")
    if current.docker_config.get("Tty"):
        if not attach:
            raise InvalidInput(
                "a container with a terminal (-t) runs attached only: use start -a -i, or run without -d"
            )
        if not sys.stdin.isatty():
            raise InvalidInput("the input device is not a TTY")
    rt = runtime_for(store, current)
    with containers.locked(c.id):
        current = containers.get(c.id)
        if current is None:
            raise NotFound(f"No such container: {c.id}")
        if current.state == "running":
            return Launched(current, None)
        directory = containers.path(c.id)
        merged = directory / "merged"
        driver_for(current.driver).mount(store, current)
        try:
            rootfs.make_volume_dirs(merged, current.docker_config.get("Volumes"))
            _write_bundle(directory, current)
            shim, line = _launch(store, rt, current, attach, interactive)
        except BaseException:
            rootfs.unmount(merged)
            raise
        word, _, rest = line.partition(" ")
        if word != "started":
            rootfs.unmount(merged)
            code, _, message = rest.partition(" ")
            if word == "failed":
                containers.set_exit_code(c.id, int(code))
                raise StartFailed(message, int(code))
            where = "" if attach else f" (see {directory / 'container.log'})"
            raise BilgeError(f"the container's shim ended before starting it{where}")
        containers.set_running(c.id, int(rest))
        started = containers.get(c.id)
    assert started is not None
    return Launched(started, shim if attach else None)


def _write_bundle(directory: Path, c: Container) -> None:
    config = c.docker_config
    network = c.host_config["NetworkMode"]
    user = ocispec.resolve_user(directory / "merged", config.get("User") or "")
    spec = ocispec.spec(config, network, directory, user)
    (directory / "config.json").write_text(json.dumps(spec, indent=1))
    (directory / "hostname").write_text(config["Hostname"] + "\n")
    if network == "host":
        shutil.copyfile("/etc/hosts", directory / "hosts")
    else:
        (directory / "hosts").write_text(_DOCKER_HOSTS)
    resolv = Path("/etc/resolv.conf")
    (directory / "resolv.conf").write_bytes(resolv.read_bytes() if resolv.is_file() else b"")
    for name in ("pid", "exit.json", "runtime.log"):
        (directory / name).unlink(missing_ok=True)


def _launch(
    store: Store, rt: runtime.Runtime, c: Container, attach: bool, interactive: bool
) -> tuple[subprocess.Popen, str]:
    """Start the shim; returns it and its one-line report: `started PID` or `failed CODE MESSAGE`."""
    directory = store.layout.containers / c.id
    read_end, write_end = os.pipe()
    hold_stdin = interactive and not attach
    command = [
        sys.executable,
        "-m",
        "bilge.store.containers.shim",
        str(store.layout.root.resolve()),
        c.id,
        rt.binary,
        "1" if hold_stdin else "0",
        str(write_end),
    ]
    try:
        if attach:
            shim = subprocess.Popen(
                command, stdin=None if interactive else subprocess.DEVNULL, pass_fds=(write_end,), cwd="/"
            )
        else:
            with open(directory / "container.log", "ab") as log:
                shim = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(write_end,),
                    cwd="/",
                    start_new_session=True,
                )
    finally:
        os.close(write_end)
    (directory / "shim.pid").write_text(str(shim.pid))
    with os.fdopen(read_end, "rb") as report:
        line = report.readline().decode("utf-8", "replace").strip()
    return shim, line


def wait_attached(store: Store, launched: Launched) -> int:
    """Wait for an attached container, passing signals on; its exit code (Docker's `run`)."""
    shim = launched.shim
    assert shim is not None

    def forward(signum: int, _frame: object) -> None:
        try:
            shim.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    previous.update({sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)})
    try:
        code = shim.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code >= 0:
        return code
    after = refresh(store, launched.container)
    return after.exit_code if after is not None and after.exit_code is not None else UNKNOWN_EXIT


# -- stop, kill, rm --------------------------------------------------------------------------


def stop(store: Store, c: Container, timeout: float, sig: str | None) -> None:
    """The stop signal, then KILL after `timeout` seconds; returns once the exit is recorded."""
    current = refresh(store, c)
    if current is None or current.state != "running" or current.pid is None:
        return
    rt = runtime_for(store, current)
    stop_signal = runtime.check_signal(sig or current.docker_config.get("StopSignal") or "TERM")
    _signal(rt, current, stop_signal)
    if not wait_dead(current.pid, timeout):
        _signal(rt, current, "KILL")
        wait_dead(current.pid, SETTLE_SECONDS)
    settle(store, current)


def kill(store: Store, c: Container, sig: str) -> None:
    current = refresh(store, c)
    if current is None or current.state != "running" or current.pid is None:
        raise Conflict(f"Cannot kill container: {c.name}: Container {c.id} is not running")
    sig = runtime.check_signal(sig)
    _signal(runtime_for(store, current), current, sig)
    if sig in ("KILL", "9") and wait_dead(current.pid, SETTLE_SECONDS):
        settle(store, current)


def _signal(rt: runtime.Runtime, c: Container, sig: str) -> None:
    """Signal through the runtime; a process that died meanwhile is not an error."""
    try:
        rt.kill(c.id, sig)
    except BilgeError:
        if c.pid is not None and _pid_alive(c.pid):
            raise


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def remove(store: Store, c: Container, force: bool) -> None:
    """Docker's rm: refused while running unless forced; unmount, drop the row, trash the directory."""
    current = refresh(store, c)
    if current is None:
        return
    if current.state == "running" and current.pid is not None:
        if not force:
            raise Conflict(
                f"You cannot remove a running container {c.id}. "
                "Stop the container before attempting removal or force remove"
            )
        _signal(runtime_for(store, current), current, "KILL")
        wait_dead(current.pid, SETTLE_SECONDS)
        settle(store, current)
    containers = store.containers
    try:
        with containers.locked(c.id):
            again = containers.get(c.id)
            if again is None:
                return
            if again.state == "running":
                raise Conflict(f"You cannot remove a running container {c.id}: it was started again meanwhile")
            containers.delete(c.id)
    except NotFound:
        return
