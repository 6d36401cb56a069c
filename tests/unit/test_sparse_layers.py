"""GNU sparse files in a layer: extracted with their holes, and the tar-split still gives back
the layer byte for byte, also when a later entry replaces the sparse file."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

import pytest
from components import require

from bilge.store.layerfs.extract import Limits, extract
from bilge.store.layerfs.tarsplit import assemble

SIZE = 4 << 20


def sparse_file(path: Path) -> bytes:
    """A 4 MiB file of two short runs of data, the rest holes; returns its content."""
    with open(path, "wb") as f:
        f.truncate(SIZE)
        f.seek(1 << 20)
        f.write(b"first run")
        f.seek(3 << 20)
        f.write(b"second run")
    return path.read_bytes()


@pytest.fixture(scope="module")
def gnu_tar() -> str:
    return require("tar", "to write GNU sparse entries")


@pytest.mark.parametrize("version", ["0.0", "0.1", "1.0"])
def test_sparse_entry_extracts_with_holes_and_reassembles(gnu_tar, tmp_path, version):
    src = tmp_path / "src"
    src.mkdir()
    content = sparse_file(src / "hole")
    layer = tmp_path / "layer.tar"
    subprocess.run(
        [gnu_tar, "--sparse", f"--sparse-version={version}", "--format=pax", "-C", src, "-cf", layer, "hole"],
        check=True,
    )
    data = layer.read_bytes()
    dest = tmp_path / "dest"
    dest.mkdir()
    got = extract(io.BytesIO(data), str(dest), Limits(), whiteouts="aufs")
    assert got.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (dest / "hole").read_bytes() == content
    assert os.stat(dest / "hole").st_blocks * 512 < SIZE // 4  # the holes stay holes
    assert b"".join(assemble(str(dest), got.tarsplit)) == data


def test_sparse_entry_replaced_later_in_the_layer_still_reassembles(gnu_tar, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    sparse_file(first / "hole")
    (second / "hole").write_bytes(b"a plain file now")
    layer = tmp_path / "layer.tar"
    subprocess.run([gnu_tar, "--sparse", "--format=pax", "-C", first, "-cf", layer, "hole"], check=True)
    subprocess.run([gnu_tar, "--format=pax", "-C", second, "-rf", layer, "hole"], check=True)
    data = layer.read_bytes()
    dest = tmp_path / "dest"
    dest.mkdir()
    got = extract(io.BytesIO(data), str(dest), Limits(), whiteouts="aufs")
    assert (dest / "hole").read_bytes() == b"a plain file now"
    assert b"".join(assemble(str(dest), got.tarsplit)) == data
