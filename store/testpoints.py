"""Test points: named places where a test stops a command to run another against the store in
between (a prune while a create copies its image), so that a race is reproduced exactly, not
by luck of timing.

Inert unless `BILGE_TEST_PAUSE=NAME:FIFO` is set. At `reached("NAME")` the command opens FIFO
for reading, which blocks until the test opens it for writing (so the test knows the command is
there), then waits until the test closes it. tests/test_races.py is the user.
"""

from __future__ import annotations

import os


def reached(name: str) -> None:
    point, _, fifo = os.environ.get("BILGE_TEST_PAUSE", "").partition(":")
    if point == name and fifo:
        with open(fifo, "rb") as f:
            f.read()
