"""The OCI runtime (runc or crun) as a command line: find it, run a bundle, ask, signal, delete.

Both runtimes take the same global and sub-command flags for what we use. Their state lives
under /run (a tmpfs), in a directory of this store's own, so after a reboot no container is
believed to be running and two stores never see each other's containers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import BilgeError, InvalidInput
from ..paths import Layout

KNOWN = ("runc", "crun")
# Where Debian puts runc; a non-login root shell's PATH may lack it.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_INSTALL = "install runc (Debian/Ubuntu: apt-get install runc) or crun"


class RuntimeMissing(BilgeError):
    """No OCI runtime to run containers with."""


def find(name: str | None, search: str | None = None) -> str:
    """The runtime's path: `name` (a command or a path), else the first of runc, crun found."""
    path = search if search is not None else os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    for candidate in [name] if name else KNOWN:
        found = shutil.which(candidate, path=path)
        if found:
            return found
    if name:
        raise RuntimeMissing(f"OCI runtime {name!r} not found: {_INSTALL}, or pass --runtime PATH")
    raise RuntimeMissing(f"no OCI runtime found to run containers: {_INSTALL}")


def state_root(layout: Layout) -> Path:
    """/run/bilge/<hash of the store root>: per store, and gone after a reboot."""
    tag = hashlib.sha256(os.fsencode(layout.root.resolve())).hexdigest()[:16]
    base = Path("/run") if os.geteuid() == 0 else Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp")
    return base / "bilge" / tag


class Runtime:
    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root

    @property
    def name(self) -> str:
        return os.path.basename(self.binary)

    def command(self, *args: str, log: Path | None = None) -> list[str]:
        logging = ["--log", str(log), "--log-format", "json"] if log else []
        return [self.binary, "--root", str(self.root), *logging, *args]

    def run_command(self, bundle: Path, cid: str, pid_file: Path, log: Path) -> list[str]:
        """`run` in the foreground: it creates, starts, waits, and deletes the container."""
        return self.command("run", "--bundle", str(bundle), "--pid-file", str(pid_file), cid, log=log)

    def state(self, cid: str) -> dict | None:
        """The runtime's view (status, pid), or None when it knows no such container."""
        proc = subprocess.run(self.command("state", cid), capture_output=True)
        if proc.returncode != 0:
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return None

    def kill(self, cid: str, signal: str) -> None:
        self._call("kill", cid, signal)

    def pause(self, cid: str) -> None:
        self._call("pause", cid)

    def resume(self, cid: str) -> None:
        self._call("resume", cid)

    def delete(self, cid: str) -> None:
        """Forget a container whose watcher died; nothing to do when it is already gone."""
        subprocess.run(self.command("delete", "--force", cid), capture_output=True)

    def _call(self, *args: str) -> None:
        proc = subprocess.run(self.command(*args), capture_output=True, text=True)
        if proc.returncode != 0:
            raise BilgeError(f"{self.name} {args[0]}: {last_error(proc.stderr)}")


def last_error(text: str) -> str:
    """The message of a runtime's last log line (JSON or plain), for a one-line error."""
    for line in reversed(text.strip().splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            return line.strip()
        if isinstance(record, dict) and record.get("msg"):
            return str(record["msg"])
    return "unknown error"


def start_error_code(message: str) -> int:
    """Docker's exit codes for a command that could not start: 127 not found, 126 not runnable."""
    lowered = message.lower()
    if "not found" in lowered or "no such file" in lowered:
        return 127
    if "permission denied" in lowered or "exec format error" in lowered:
        return 126
    return 125


def check_signal(signal: str) -> str:
    """A signal name (KILL, SIGTERM) or number, as the runtime's kill accepts it."""
    import signal as signals

    bare = signal.upper().removeprefix("SIG")
    if bare.isdigit() or hasattr(signals, f"SIG{bare}"):
        return bare
    raise InvalidInput(f"invalid signal: {signal}")
