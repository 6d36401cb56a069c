"""Hostile layers that aim at time or memory rather than at the host's files: replacing one name
over and over must cost linear work, and headers or trailers too big to be real are refused
before they are read into memory.

Work is counted, not timed: the line events the extractor's own code runs (sys.settrace) are
the same on every machine, and they grow with the square of the entries when each replacement
scans everything made before it.
"""

from __future__ import annotations

import io
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import hostile as h
import pytest

from bilge.store.errors import InvalidInput
from bilge.store.layerfs import extract
from bilge.store.layerfs.tarsplit import assemble


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


def one_symlink_replaced_n_times_after_n_dirs(n: int) -> bytes:
    dirs = [(_info(f"d{i}/x/y", tarfile.FIFOTYPE), None) for i in range(n)]
    return _tar(dirs + [(_info("f", tarfile.SYMTYPE, link="x"), None) for _ in range(n)])


def n_files_each_replaced(n: int) -> bytes:
    files = [(_info(f"a/f{i}", size=1), b"x") for i in range(n)]
    return _tar(files + [(_info(f"a/f{i}", tarfile.SYMTYPE, link="x"), None) for i in range(n)])


def n_directories_each_replaced(n: int) -> bytes:
    dirs = [(_info(f"d{i}/x", size=1), b"x") for i in range(n)]
    return _tar(dirs + [(_info(f"d{i}", tarfile.SYMTYPE, link="y"), None) for i in range(n)])


def work(layer: bytes, dest: Path) -> int:
    """Line events run in the extractor's module while it extracts `layer`."""
    source = extract.__file__
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != source:
            return None
        if event == "line":
            count += 1
        return tracer

    dest.mkdir()
    sys.settrace(tracer)
    try:
        extract.extract(io.BytesIO(layer), str(dest), extract.Limits(), "aufs")
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize(
    "build", [one_symlink_replaced_n_times_after_n_dirs, n_files_each_replaced, n_directories_each_replaced]
)
def test_replacing_names_costs_linear_work(build: Callable[[int], bytes], tmp_path: Path) -> None:
    small = work(build(1000), tmp_path / "small")
    large = work(build(4000), tmp_path / "large")
    assert large < 4.5 * small, f"4x the entries cost {large / small:.1f}x the work"


def test_a_header_too_big_to_be_real_is_refused_unread(tmp_path: Path) -> None:
    info = _info("f", size=1)
    info.pax_headers = {"comment": "x" * (extract.MAX_KEPT_BYTES + 1)}
    layer = _tar([(info, b"x")], tarfile.PAX_FORMAT)
    (tmp_path / "d").mkdir()
    with pytest.raises(InvalidInput, match="tar header of .* bytes"):
        extract.extract(io.BytesIO(layer), str(tmp_path / "d"), extract.Limits(), "aufs")


def test_a_trailer_too_big_to_be_padding_is_refused(tmp_path: Path) -> None:
    layer = h.tar([h.file("f")]) + b"\0" * (extract.MAX_KEPT_BYTES + (1 << 20))
    (tmp_path / "d").mkdir()
    with pytest.raises(InvalidInput, match="bytes follow the end of the tar archive"):
        extract.extract(io.BytesIO(layer), str(tmp_path / "d"), extract.Limits(), "aufs")


def test_real_padding_after_the_end_is_kept(tmp_path: Path) -> None:
    layer = h.tar([h.file("f")]) + b"\0" * 20480  # more end-of-archive records than tarfile writes
    (tmp_path / "d").mkdir()
    got = extract.extract(io.BytesIO(layer), str(tmp_path / "d"), extract.Limits(), "aufs")
    assert got.diff_id == h.diff_id(layer)


def test_overwriting_its_own_big_files_is_bounded(tmp_path: Path) -> None:
    """An overwritten file's content must be kept in the tar-split (in memory): a layer that
    overwrites more than any real one does is refused instead of filling memory."""
    size = extract.MAX_KEPT_BYTES * 4 + 1
    layer = _tar([(_info("big", size=size), b"\0" * size), (_info("big", tarfile.SYMTYPE, link="x"), None)])
    (tmp_path / "d").mkdir()
    with pytest.raises(InvalidInput, match="overwrites more than"):
        extract.extract(io.BytesIO(layer), str(tmp_path / "d"), extract.Limits(), "aufs")


def test_an_overwritten_file_still_reassembles(tmp_path: Path) -> None:
    layer = _tar([(_info("f", size=5), b"first"), (_info("f", size=6), b"second")])
    (tmp_path / "d").mkdir()
    got = extract.extract(io.BytesIO(layer), str(tmp_path / "d"), extract.Limits(), "aufs")
    assert (tmp_path / "d" / "f").read_bytes() == b"second"
    assert b"".join(assemble(str(tmp_path / "d"), got.tarsplit)) == layer  # "first" came from the record
