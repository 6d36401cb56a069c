"""tarsplit.members: a layer's entries from its tar-split alone, file contents never read
(they are zeros in the skeleton), long PAX names included."""

from __future__ import annotations

import io
import tarfile

import pytest
import zstandard

from bilge.store.errors import InvalidInput
from bilge.store.layerfs.tarsplit import Recording, members, segment_sizes


def test_members_come_from_the_headers_alone() -> None:
    long = "d/" + "x" * 150
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("a", b"hello"), (long, b"y" * 700)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    # Split as the extractor records it: headers raw, each content a file reference.
    recording = Recording()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        position = 0
        for info in tar:
            recording.raw(raw[position : info.offset_data])
            recording.file(info.name, info.size)
            position = info.offset_data + info.size
    recording.raw(raw[position:])
    found = [(m.name, m.size) for m in members(recording.encode())]
    assert found == [("a", 5), (long, 700)]


@pytest.mark.parametrize(
    "cut, said",
    [
        (lambda blob: blob[: len(blob) // 2], "truncated tar-split"),  # the zstd frame cut short
        (
            lambda blob: zstandard.ZstdCompressor().compress(zstandard.decompress(blob)[:-3]),
            "truncated tar-split record",
        ),
    ],
)
def test_a_truncated_tar_split_is_refused_not_read_as_a_shorter_tar(cut, said) -> None:
    """Readers that do not check the blob's digest first (members, for waste) get one clear error."""
    recording = Recording()
    recording.raw(b"h" * 512)
    recording.file("some/file", 10)
    with pytest.raises(InvalidInput, match=f"^{said}$"):
        list(segment_sizes(cut(recording.encode())))
