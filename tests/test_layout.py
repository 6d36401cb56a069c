"""The store's directories on a real disk: where layers are born is marked for ext4's allocator."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bilge.store.core import Store
from bilge.store.paths import Layout


def lsattr_flags(path: Path) -> str:
    return subprocess.run(["lsattr", "-d", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def test_a_new_store_spreads_its_layers_over_ext4_block_groups(bilge) -> None:
    disk = Path(tempfile.mkdtemp(prefix="bilge-layout-", dir="/var/tmp"))  # the tests' tmp is tmpfs
    try:
        kind = subprocess.run(["stat", "-f", "-c", "%T", str(disk)], capture_output=True, text=True).stdout.strip()
        if kind != "ext2/ext3":  # stat's name for the ext family, ext4 included
            pytest.skip(f"/var/tmp is {kind}, not ext4: no Orlov allocator to steer")
        root = disk / "store"
        Store(root).close()  # a new store, as load or pull makes one
        assert "T" in lsattr_flags(root / "ingest")
        assert "T" in lsattr_flags(root / "containers")
        assert "T" not in lsattr_flags(root / "layers")
    finally:
        shutil.rmtree(disk)


def test_commands_starting_at_once_on_a_new_store_all_succeed(tmp_path: Path) -> None:
    """Several processes creating the same new store at the same moment: none may fail on the
    directory another one has just made."""
    failures = 0
    for round_ in range(150):
        layout = Layout(tmp_path / f"r{round_}")
        go_read, go_write = os.pipe()
        pids = []
        for _ in range(6):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.read(go_read, 1)  # all start together
                    layout.create()
                    code = 0
                finally:
                    os._exit(code)
            pids.append(pid)
        os.write(go_write, b"x" * len(pids))
        os.close(go_read)
        os.close(go_write)
        failures += sum(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0 for pid in pids)
    assert failures == 0
