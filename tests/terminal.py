"""Run bilge with its stderr on a pseudo-terminal, to see what a person at a terminal sees."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path


def run_on_terminal(root: Path, *args: str, extra_env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, everything drawn on the terminal) of `bilge *args` against `root`."""
    leader, follower = pty.openpty()
    env = {**os.environ, "BILGE_ROOT": str(root), **(extra_env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bilge", *args],
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO once the last writer closed the terminal
            break
        if not data:
            break
        screen += data
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    return proc.returncode, out, screen
