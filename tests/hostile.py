"""Crafted hostile layers and docker-archives for the store's confinement tests.

Design rules 6 and 7: extraction is confined and bad input changes nothing. Each builder here
returns bytes (a layer tar, a gzip of one, or a whole `docker save` archive) and touches no disk.

Every escape aims at MARKER, a path under /tmp unique to this test process, so a test proves
that nothing got out with `assert not hostile.escaped()`. Escapes by `..` climb DEPTH levels,
far more than any store root under pytest's tmp dir is deep (`..` at `/` stays at `/`).

Tar's own writer never checks names or link targets, which is what lets us write these.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import tarfile
import uuid
import zlib

MARKER = f"/tmp/bilge-pwned-{uuid.uuid4().hex[:12]}"
DEPTH = 16
MTIME = 1_700_000_000
PAYLOAD = b"pwned\n"

Entry = tuple[tarfile.TarInfo, bytes | None]


def escaped() -> list[str]:
    """What a hostile layer managed to create at or beside MARKER (should be empty)."""
    return sorted(glob.glob(glob.escape(MARKER) + "*"))


def climb(host_path: str, depth: int = DEPTH) -> str:
    """A relative path that reaches `host_path` from any directory up to `depth` levels deep."""
    return "../" * depth + host_path.lstrip("/")


# --- entries and plain layers ---------------------------------------------------------------


def _info(name: str, type: bytes, *, size: int = 0, mode: int = 0o644, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.linkname, info.mtime = type, size, mode, linkname, MTIME
    return info


def file(name: str, data: bytes = PAYLOAD, mode: int = 0o644) -> Entry:
    return _info(name, tarfile.REGTYPE, size=len(data), mode=mode), data


def directory(name: str, mode: int = 0o755) -> Entry:
    return _info(name, tarfile.DIRTYPE, mode=mode), None


def symlink(name: str, target: str) -> Entry:
    return _info(name, tarfile.SYMTYPE, mode=0o777, linkname=target), None


def hardlink(name: str, target: str) -> Entry:
    """A hardlink; tar resolves `target` from the archive's root, not from the link's directory."""
    return _info(name, tarfile.LNKTYPE, linkname=target), None


def tar(entries: list[Entry]) -> bytes:
    """An uncompressed (PAX) tar of `entries`, written exactly as given."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """gzip with a fixed mtime, so the same layer always has the same digest."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def sample_layer() -> bytes:
    """A benign layer (~300 KiB of varied text) that compresses into real Huffman blocks."""
    text = "".join(f"{i:08d} the quick brown fox jumps {i * 7919 % 10007}\n" for i in range(6000))
    return tar([directory("etc"), file("etc/hostname", b"bilge\n"), file("data.txt", text.encode())])


# --- escapes --------------------------------------------------------------------------------


def path_traversal(target: str = MARKER, depth: int = DEPTH) -> bytes:
    """One file named `../`*depth + target; `path_traversal("evil", 2)` is the plain `../../evil`."""
    return tar([file(climb(target, depth))])


def absolute_path(target: str = MARKER) -> bytes:
    """One file whose name is an absolute host path."""
    return tar([file(target)])


def symlink_write_through(
    target_dir: str = os.path.dirname(MARKER),
    relative: bool = False,
    name: str = "evil",
    leaf: str = os.path.basename(MARKER),
) -> bytes:
    """`evil -> /tmp` (or `-> ../../…/tmp`), then the regular file `evil/<leaf>`.

    An extractor that follows the symlink writes `target_dir/leaf`, which is MARKER by default.
    """
    link = climb(target_dir) if relative else target_dir
    return tar([symlink(name, link), file(f"{name}/{leaf}")])


def hardlink_outside(target: str = "/etc/passwd", name: str = "link", overwrite: bytes | None = None) -> bytes:
    """`link` as a hardlink (LNKTYPE) to `../`*DEPTH + target, i.e. to the host's `target`.

    Detect an escape by inode: no file in the store may share one with `target`. With
    `overwrite`, a second entry writes those bytes to `link` (an extractor that opens the
    existing link instead of replacing it would write into the host file): only ever use it
    with a victim file the test made itself, never with /etc/passwd.
    """
    entries = [hardlink(name, climb(target))]
    if overwrite is not None:
        entries.append(file(name, overwrite))
    return tar(entries)


def bare_whiteout(target: str = "") -> bytes:
    """A whiteout of nothing: `.wh.` (also try target "." or ".." for `.wh..` and `.wh...`)."""
    return tar([file(".wh." + target, b"")])


# --- size, count and stream damage ----------------------------------------------------------


class _Zeros(io.RawIOBase):
    """`size` zero bytes without holding them in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def tar_bomb(size: int = 64 << 20, name: str = "zeros") -> bytes:
    """A gzip layer holding one file of `size` zero bytes: ~1000x smaller than it unpacks."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            tf.addfile(_info(name, tarfile.REGTYPE, size=size), io.BufferedReader(_Zeros(size)))
    return out.getvalue()


def too_many_entries(count: int = 10_000) -> bytes:
    """An uncompressed layer of exactly `count` empty regular files (512 bytes each)."""
    return tar([file(f"f{i:07d}", b"") for i in range(count)])


def truncated_gzip(layer: bytes | None = None, keep: float = 0.5) -> bytes:
    """The first `keep` of a gzip layer (default: gzip of sample_layer()), cut before its trailer."""
    layer = layer if layer is not None else gzip_bytes(sample_layer())
    return layer[: min(int(len(layer) * keep), len(layer) - 9)]


def corrupt_gzip(layer: bytes | None = None, at: float = 0.5, span: int = 16) -> bytes:
    """A gzip layer with `span` bytes inverted at `at` of its length (past the 10-byte header).

    Near the start (`at=0`) zlib soon fails on the deflate structure; in the middle (the
    default) it usually decodes to wrong bytes and only the CRC at the end says so ("incorrect
    data check"), which catches a reader that stops at the tar's end without checking it.
    """
    data = bytearray(layer if layer is not None else gzip_bytes(sample_layer()))
    start = max(10, int(len(data) * at))
    for i in range(start, min(start + span, len(data) - 8)):
        data[i] ^= 0xFF
    return bytes(data)


def truncated_tar(size: int = 10_000) -> bytes:
    """An uncompressed layer with one file of `size` bytes, cut halfway through its content."""
    whole = tar([file("big", bytes(range(256)) * (size // 256) + bytes(size % 256))])
    with tarfile.open(fileobj=io.BytesIO(whole)) as tf:
        start = tf.getmember("big").offset_data
    return whole[: start + size // 2]


# --- docker-archive -------------------------------------------------------------------------


def diff_id(layer: bytes) -> str:
    """sha256 of the uncompressed tar; of the raw bytes where gzip cannot be fully undone."""
    if layer[:2] == b"\x1f\x8b":
        try:
            layer = gzip.decompress(layer)
        except (OSError, EOFError, zlib.error):
            pass
    return "sha256:" + hashlib.sha256(layer).hexdigest()


def docker_archive(
    layers: list[bytes], repo_tag: str | None = "hostile:latest", diff_ids: list[str] | None = None
) -> bytes:
    """A legacy `docker save` archive of one image made of `layers` (bottom first).

    `diff_ids` overrides the config's rootfs, e.g. with the diff_id of the intact layer that a
    truncated or corrupt one was made from, so the store must notice the damage itself.
    `repo_tag=None` makes the image dangling.
    """
    diff_ids = diff_ids if diff_ids is not None else [diff_id(layer) for layer in layers]
    assert len(diff_ids) == len(layers), "one diff_id per layer"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_names = [f"{n}/layer.tar" for n in range(len(layers))]
    manifest = [{"Config": config_name, "RepoTags": [repo_tag] if repo_tag else None, "Layers": layer_names}]
    entries: list[Entry] = [file("manifest.json", json.dumps(manifest).encode()), file(config_name, config)]
    for n, (name, layer) in enumerate(zip(layer_names, layers)):
        entries += [directory(str(n)), file(name, layer)]
    return tar(entries)


# --- headers and JSON that lie about their types and sizes ----------------------------------


def pax_file(name: str, headers: dict[str, str], data: bytes = PAYLOAD) -> Entry:
    """A regular file whose PAX extended header carries `headers` verbatim (mtime, uid, size…)."""
    info, payload = file(name, data)
    info.pax_headers = headers
    return info, payload


def device_tar(major: int, minor: int) -> bytes:
    """One character device with these numbers; GNU format, which writes any size in base-256."""
    info = _info("dev", tarfile.CHRTYPE)
    info.devmajor, info.devminor = major, minor
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tf:
        tf.addfile(info)
    return out.getvalue()


def nested(depth: int) -> bytes:
    """A JSON array `depth` levels deep: `[[[…]]]`."""
    return b"[" * depth + b"]" * depth


def raw_archive(
    manifest: bytes | object, config: bytes | object, layers: list[bytes] = (), extra: list[Entry] = ()
) -> bytes:
    """A `docker save` archive whose manifest.json and config are exactly these (JSON values are
    dumped, bytes kept), layers at `n/layer.tar`; `extra` entries are appended as given.

    Write the config's name in the manifest as "CONFIG"; it becomes the config's file name.
    """
    config_bytes = config if isinstance(config, bytes) else json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest_bytes = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    entries: list[Entry] = [
        file("manifest.json", manifest_bytes.replace(b'"CONFIG"', json.dumps(config_name).encode())),
        file(config_name, config_bytes),
    ]
    for n, layer in enumerate(layers):
        entries += [directory(str(n)), file(f"{n}/layer.tar", layer)]
    return tar(entries + list(extra))


def config_for(layers: list[bytes], **override: object) -> dict:
    """The config docker_archive writes for `layers`, with top-level keys replaced by `override`."""
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id(layer) for layer in layers]},
        **override,
    }


def manifest_for(layers: list[bytes], repo_tag: str = "hostile:latest", **override: object) -> list[dict]:
    return [
        {"Config": "CONFIG", "RepoTags": [repo_tag], "Layers": [f"{n}/layer.tar" for n in range(len(layers))]}
        | override
    ]
