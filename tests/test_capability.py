"""A file capability (`security.capability`) survives every copy the store makes of a layer:
the vfs copy a container is built from, and so what `diff`, `commit` and `save` see.

chown clears the capability, so a copy that sets xattrs before the owner loses it (issue 14,
item 14). Setting the xattr needs root (CAP_SETFCAP).
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
from pathlib import Path

import hostile
from components import fail_or_skip

CAPABILITY = "security.capability"
# VFS_CAP_REVISION_2 with the effective bit, permitting cap_net_raw (13): what `setcap cap_net_raw+ep` writes
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def _needs_root() -> None:
    if os.geteuid() != 0:
        fail_or_skip("setting security.capability needs root (CAP_SETFCAP)", ".ci/run runs as root")


def capability_layer() -> bytes:
    """bin/ping owned by 1000 (so the copy's chown does change it) and carrying CAP_NET_RAW."""
    info, data = hostile.file("bin/ping", b"#!/bin/sh\necho ping\n", mode=0o755)
    info.uid = info.gid = 1000
    info.pax_headers = {"SCHILY.xattr." + CAPABILITY: CAP_NET_RAW.decode("utf-8", "surrogateescape")}
    return hostile.tar([hostile.directory("bin"), (info, data)])


def test_a_vfs_container_keeps_file_capabilities_through_diff_commit_and_save(bilge, tmp_path: Path):
    _needs_root()
    layer = capability_layer()
    archive = tmp_path / "cap.tar"
    archive.write_bytes(hostile.docker_archive([layer], "cap:latest"))
    bilge("load", "-q", "-i", archive)
    cid = bilge("create", "--storage-driver", "vfs", "cap:latest", "/bin/ping").stdout.strip()
    merged = Path(json.loads(bilge("inspect", cid).stdout)[0]["GraphDriver"]["Data"]["Dir"])

    assert os.getxattr(merged / "bin/ping", CAPABILITY, follow_symlinks=False) == CAP_NET_RAW
    assert (merged / "bin/ping").stat().st_uid == 1000
    assert bilge("diff", cid).stdout == ""  # the copy is the image: nothing changed

    (merged / "added").write_bytes(b"new\n")
    bilge("commit", cid, "cap:committed")
    saved = tmp_path / "saved.tar"
    bilge("save", "-o", saved, "cap:committed")
    with tarfile.open(saved) as tf:
        [manifest] = json.loads(tf.extractfile("manifest.json").read())
        base, top = (tf.extractfile(name).read() for name in manifest["Layers"])
    assert base == layer  # the stored layer, byte for byte, capability header included
    assert tarfile.open(fileobj=io.BytesIO(top)).getnames() == ["added"]  # not bin/ping as "changed"
