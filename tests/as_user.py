"""`python as_user.py UID ROOT ARGS…`: run `bilge --root ROOT ARGS…` as user UID, as a person
without root would, from this interpreter, which may live where only root can read (pyenv's
under /root): runuser could not start it.

So the command first runs as root on a copy of the store (its output discarded), which imports
every module it needs, and then again in a child that has dropped to UID, on the store itself.
The child's stdout, stderr and exit status are this script's.
"""

from __future__ import annotations

import os
import pwd  # noqa: F401 - what naming a store's owner imports
import subprocess
import sys
import tempfile
import urllib.parse  # noqa: F401 - what reading a store that cannot be written imports

from typer.testing import CliRunner

from bilge import entry
from bilge.cli import app


def main() -> None:
    uid, root, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "store")
        subprocess.run(["cp", "-a", root, copy], check=True)  # layers hold FIFOs, which copytree refuses
        CliRunner().invoke(app, ["--root", copy, *args])
    pid = os.fork()
    if pid == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        sys.argv = ["bilge", "--root", root, *args]
        try:
            entry.main()
        except SystemExit as exc:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 1)
        sys.stdout.flush()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
