"""An uncompressed archive in a regular file: its layers are noted where they lie and extracted
in forked processes after the scan; what comes of it is what a streamed load of the same bytes
gives (the same image, the same refusal, the first bad layer's in archive order)."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import hostile as h

from bilge.store.archive.load import TarSource
from bilge.store.core import Store


def bilge(root: Path, *args: str, **run: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "bilge", "--root", str(root), *args], capture_output=True, **run)  # type: ignore[call-overload]


def _layers() -> list[bytes]:
    return [h.tar([h.file(f"l{n}/f{i}", bytes([n, i]) * 3000) for i in range(30)]) for n in range(3)]


def test_a_plain_archive_file_has_its_layers_noted_where_they_lie_then_extracted(tmp_path: Path) -> None:
    layers = _layers()
    archive = tmp_path / "a.tar"
    archive.write_bytes(h.docker_archive(layers))
    store = Store(tmp_path / "store")
    with tarfile.open(archive) as tf:
        where = {f"{n}/layer.tar": (tf.getmember(f"{n}/layer.tar").offset_data, len(layers[n])) for n in range(3)}
    with store.lease("load") as lease, open(archive, "rb") as f:
        src = TarSource(store, lease, f)
        assert src.regions == where
        assert [src.layer(f"{n}/layer.tar").blob_digest for n in range(3)] == [h.diff_id(layer) for layer in layers]


def test_a_stream_or_a_compressed_file_is_still_read_in_one_pass(tmp_path: Path) -> None:
    layers = _layers()
    data = h.docker_archive(layers)
    packed = tmp_path / "a.tar.gz"
    packed.write_bytes(gzip.compress(data))
    store = Store(tmp_path / "store")
    with store.lease("load") as lease, open(packed, "rb") as f:
        for source in (io.BytesIO(data), f):
            src = TarSource(store, lease, source)  # type: ignore[arg-type]
            assert src.regions == {}
            assert [src.layer(f"{n}/layer.tar").blob_digest for n in range(3)] == [h.diff_id(x) for x in layers]


def test_a_file_and_a_pipe_of_the_same_archive_load_the_same_image(tmp_path: Path) -> None:
    data = h.docker_archive(_layers())
    archive = tmp_path / "a.tar"
    archive.write_bytes(data)
    by_file, by_pipe = tmp_path / "file", tmp_path / "pipe"
    assert bilge(by_file, "load", "-i", str(archive)).returncode == 0
    assert bilge(by_pipe, "load", input=data).returncode == 0
    listed = [bilge(root, "images", "--no-trunc").stdout for root in (by_file, by_pipe)]
    assert listed[0] == listed[1] and b"hostile" in listed[0]
    for root in (by_file, by_pipe):
        checked = bilge(root, "check")
        assert (checked.returncode, checked.stdout + checked.stderr) == (0, b"store is consistent\n")
    saved = bilge(by_file, "save", "hostile:latest").stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as tf:
        got = {h.diff_id(tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert {h.diff_id(x) for x in _layers()} <= got  # the layers as they came, byte for byte


def test_stdin_from_a_file_already_part_read_is_loaded_from_where_it_stands(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    archive.write_bytes(b"junk" * 256 + h.docker_archive(_layers()))
    fd = os.open(archive, os.O_RDONLY)
    try:
        os.lseek(fd, 1024, os.SEEK_SET)
        proc = bilge(tmp_path / "store", "load", stdin=fd)
    finally:
        os.close(fd)
    assert (proc.returncode, proc.stdout) == (0, b"Loaded image: hostile:latest\n"), proc.stderr


def test_the_first_bad_layer_in_archive_order_is_the_error_not_the_first_child_to_fail(tmp_path: Path) -> None:
    slow = h.tar([h.file(f"f{i}", b"s" * 100_000) for i in range(200)])
    slow = slow[: len(slow) - 1024 - 50_000]  # refused only at its end: "ends in the middle of a file"
    fast = h.path_traversal("evil", 2)  # refused at its first entry
    data = h.docker_archive([slow, fast], diff_ids=[h.diff_id(slow), h.diff_id(fast)])
    archive = tmp_path / "a.tar"
    archive.write_bytes(data)
    by_file = bilge(tmp_path / "file", "load", "-i", str(archive))
    by_pipe = bilge(tmp_path / "pipe", "load", input=data)
    assert by_file.returncode == by_pipe.returncode == 1
    assert by_file.stderr == by_pipe.stderr == b"Error: layer tar ends in the middle of a file\n"
