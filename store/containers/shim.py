"""The shim: `python -m bilge.store.containers.shim ROOT ID RUNTIME HOLD_STDIN NOTIFY_FD`.

One per started container. It runs `<runtime> run` in the foreground (the runtime creates,
starts, waits for and deletes the container), tells the bilge that started it `started PID`
or `failed CODE MESSAGE` on NOTIFY_FD, and when the container ends writes exit.json and
records the exit in the store (then removes the container if it was run with --rm). It
outlives the bilge that started it, which is what makes `run -d` and exit codes of
containers nobody waited for work.

It is a child subreaper, so if the runtime itself is killed the container's process becomes
its child and it still learns the real exit code. With HOLD_STDIN (`run -di`) it keeps a
pipe open as the container's stdin, so an interactive program does not see end-of-file.

The runtime's stderr is also the container's, and a runtime that cannot start the process
prints its error there as well as in its log; the shim relays that stream and holds it back
until the process runs, so a failed start is reported once, by bilge, in one line.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..core import Store
from ..paths import Layout
from . import lifecycle, runtime

_PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    root, cid, binary, hold_stdin, notify = Path(argv[1]), argv[2], argv[3], argv[4] == "1", int(argv[5])
    layout = Layout(root)
    directory = layout.containers / cid
    rt = runtime.Runtime(binary, runtime.state_root(layout))
    ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    stdin, keep_open = os.pipe() if hold_stdin else (None, None)
    relay = _Relay()
    proc = subprocess.Popen(
        rt.run_command(directory, cid, directory / "pid", directory / "runtime.log"),
        stdin=stdin,
        stderr=relay.sink,
        cwd="/",
    )
    for fd in (stdin, relay.sink):
        if fd is not None:
            os.close(fd)
    _forward_signals(proc)
    pid = _wait_for_pid(proc, directory / "pid")
    if pid is None:
        relay.drop()
        proc.wait()
        message = runtime.last_error(_read(directory / "runtime.log"))
        code = runtime.start_error_code(message)
        _report(notify, f"failed {code} {message}")
        return code
    relay.release()
    _report(notify, f"started {pid}")
    code = _wait(proc, pid)
    relay.join(timeout=1.0)  # a daemon the container left behind may hold stderr open
    finished = time.time()
    if keep_open is not None:
        os.close(keep_open)
    _write_exit(directory, pid, code, finished)
    try:
        _record(root, cid, pid, code, finished)
    except Exception as exc:
        sys.stderr.write(f"bilge shim: recording the exit of {cid[:12]} failed: {exc}\n")
    return code


class _Relay(threading.Thread):
    """Copies the runtime's (and container's) stderr to ours, held back until `release`."""

    def __init__(self) -> None:
        super().__init__(name="stderr-relay", daemon=True)
        self.source, self.sink = os.pipe()
        self.lock = threading.Lock()
        self.held: bytearray | None = bytearray()
        self.dropping = False
        self.start()

    def run(self) -> None:
        while chunk := os.read(self.source, 1 << 16):
            with self.lock:
                if self.held is not None:
                    self.held += chunk
                elif not self.dropping:
                    _write_all(2, chunk)
        os.close(self.source)

    def release(self) -> None:
        with self.lock:
            if self.held:
                _write_all(2, bytes(self.held))
            self.held = None

    def drop(self) -> None:
        with self.lock:
            self.held, self.dropping = None, True


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass  # nobody is reading our stderr any more


def _forward_signals(proc: subprocess.Popen) -> None:
    def forward(signum: int, _frame: object) -> None:
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    for sig in lifecycle.FORWARDED:
        signal.signal(sig, forward)
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)


def _wait_for_pid(proc: subprocess.Popen, pid_file: Path) -> int | None:
    """The container's pid once the runtime has started it (it writes the file atomically)."""
    while True:
        exited = proc.poll() is not None
        try:
            return int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            if exited:
                return None
        time.sleep(0.005)


def _wait(proc: subprocess.Popen, pid: int) -> int:
    """The container's exit code: the runtime's, or, if the runtime died first, our own wait."""
    code = proc.wait()
    if lifecycle.wait_dead(pid, 0):
        return code if code >= 0 else 128 - code
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        lifecycle.wait_dead(pid, float("inf"))
        return lifecycle.UNKNOWN_EXIT
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _report(fd: int, line: str) -> None:
    try:
        os.write(fd, (line + "\n").encode())
    except OSError:
        pass  # the bilge that started us is gone; the store still gets the news
    finally:
        os.close(fd)


def _write_exit(directory: Path, pid: int, code: int, finished: float) -> None:
    """exit.json, whole or not at all. A container that filled the disk leaves no room for
    it: then one line says so, and the exit is still recorded in the store (which has its
    reserve) or, failing that, read as unknown."""
    tmp = directory / f".exit-{os.getpid()}"
    try:
        tmp.write_text(json.dumps({"pid": pid, "code": code, "finished": finished}))
        os.replace(tmp, directory / "exit.json")
    except FileNotFoundError:
        pass  # removed with rm -f meanwhile
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        sys.stderr.write(f"bilge shim: writing the exit of {directory.name[:12]} failed: {exc.strerror or exc}\n")


def _record(root: Path, cid: str, pid: int, code: int, finished: float) -> None:
    store = Store(root)
    try:
        lifecycle.finalize(store, cid, pid, code, finished)
        c = store.containers.get(cid)
        if c is not None and c.state == "exited" and c.host_config.get("AutoRemove"):
            lifecycle.remove(store, c, force=False)
    finally:
        store.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main(sys.argv))
