"""Confined, streaming extraction of one layer tar (design rules 5 and 6).

Python's tarfile parses the headers; applying them is ours, because tarfile's own filters
either reject what real images carry (absolute symlinks, devices) or resolve links on the
host. One pass over the uncompressed stream hashes it (the diff_id), records its skeleton
(tar-split) and writes the files into a fresh directory under ingest/.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TypeVar, cast

from ..errors import InvalidInput
from ..fsutil import measure, rmtree, walk
from . import securepath
from .streams import ForwardReader, ReadAhead, members, open_tar
from .tarsplit import Recording
from .whiteouts import OPAQUE, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX

_COPY_CHUNK = 1 << 20
MAX_KEPT_BYTES = 16 << 20  # one pax record or long name, or what follows the end: real ones are kilobytes
HEADER_BYTES_PER_ENTRY = 4 << 10  # headers and padding kept per entry, on average, beyond MAX_KEPT_BYTES
# Seconds: what Go's archive/tar reads into an int64 (Docker refuses more); a time past what an
# int64 of nanoseconds holds (2262) is set as the epoch, as Docker's extraction sets it.
MAX_MTIME = 1 << 63
MAX_ID = (1 << 32) - 2  # the largest uid or gid: (uid_t)-1 means "leave unchanged" to chown
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Bounds that turn a tar bomb into an error instead of a full disk."""

    max_bytes: int = 64 << 30
    max_entries: int = 2_000_000
    max_header_bytes: int = 1 << 30

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_bytes=int(os.environ.get("BILGE_MAX_LAYER_BYTES", cls.max_bytes)),
            max_entries=int(os.environ.get("BILGE_MAX_LAYER_ENTRIES", cls.max_entries)),
            max_header_bytes=int(os.environ.get("BILGE_MAX_LAYER_HEADER_BYTES", cls.max_header_bytes)),
        )

    def header_bytes_allowed(self, entries: int) -> int:
        """The tar headers (and padding) a layer of `entries` entries may have, all kept in memory
        for its tar-split: a real entry's take at most a couple of KiB (ustar, a PAX record, up
        to 511 bytes of padding), so many huge headers are refused long before the total cap."""
        return min(self.max_header_bytes, MAX_KEPT_BYTES + HEADER_BYTES_PER_ENTRY * entries)


@dataclass(frozen=True)
class Extracted:
    diff_id: str
    size: int
    disk: int
    entries: int
    tarsplit: bytes
    whiteouts: str


def whiteout_format() -> str:
    """overlay (char 0/0 devices, trusted xattrs) needs root; otherwise keep AUFS-style files."""
    return "overlay" if os.geteuid() == 0 else "aufs"


class _Recorder(ForwardReader):
    """Sits under tarfile: hashes every byte, keeps every byte that is not file content.

    tarfile reads headers and skips padding through `read`/`seek`, so those bytes land in
    `raw`; file content is read by us through `content`, which is not kept. The stream is
    pulled a chunk at a time and each chunk hashed whole, so a 512-byte header costs a slice
    of that chunk, not a trip through the decompressor and the hash. Pulling, decompressing
    and hashing happen in a read-ahead thread, overlapping with the extraction: `close` stops it.
    """

    def __init__(self, src: BinaryIO, limits: Limits) -> None:
        super().__init__(src)
        self.limits = limits
        self.hash = hashlib.sha256()
        self.raw = bytearray()
        self.kept = 0  # all of `raw` there has been: the layer's headers and padding so far
        self._chunk = b""
        self._at = 0  # how much of _chunk has been handed out
        self._pulled = 0
        self._ahead = ReadAhead(src, self._pulled_chunk, _COPY_CHUNK)

    def _pulled_chunk(self, chunk: bytes) -> None:
        """In the read-ahead thread: count and hash a chunk before the extraction sees it."""
        self._pulled += len(chunk)
        if self._pulled > self.limits.max_bytes:
            raise InvalidInput(f"layer is larger than the limit of {self.limits.max_bytes} bytes")
        self.hash.update(chunk)

    def _ready(self) -> bool:
        """Something left in the current chunk, taking the next (hashed) one when it is used up."""
        if self._at < len(self._chunk):
            return True
        chunk = self._ahead.next()
        if not chunk:
            return False
        self._chunk, self._at = chunk, 0
        return True

    def close(self) -> None:
        self._ahead.close()

    def read(self, size: int | None = -1) -> bytes:
        """Exactly `size` bytes unless the stream ends (tarfile takes a short header read for
        the end of the archive). Only headers come through here, file content does not: a
        header (pax, GNU long name) larger than any real one is refused, not read into memory."""
        want = _COPY_CHUNK if size is None or size < 0 else size
        if want > MAX_KEPT_BYTES:
            raise InvalidInput(f"layer has a tar header of {want} bytes (the limit is {MAX_KEPT_BYTES})")
        at = self._at
        if at + want <= len(self._chunk):  # the usual header: inside the current chunk
            data = self._chunk[at : at + want]
            self._at = at + want
        else:
            data = self._across(want)
        self.pos += len(data)
        self.kept += len(data)
        self.raw += data
        return data

    def _across(self, want: int) -> bytes:
        """Up to `want` bytes from the current chunk and those after it."""
        parts: list[bytes] = []
        got = 0
        while got < want and self._ready():
            piece = self._chunk[self._at : self._at + want - got]
            self._at += len(piece)
            got += len(piece)
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def content(self, size: int) -> Iterator[memoryview]:
        """A file's `size` bytes as views into the chunks: written out without a copy."""
        left = size
        while left:
            if not self._ready():
                raise InvalidInput("layer tar ends in the middle of a file")
            count = min(left, len(self._chunk) - self._at)
            yield memoryview(self._chunk)[self._at : self._at + count]
            self._at += count
            self.pos += count
            left -= count

    def take(self) -> bytes:
        out = bytes(self.raw)
        self.raw.clear()
        return out


def check_fields(ti: tarfile.TarInfo) -> None:
    """Refuse numbers no file system takes before any reaches a system call: tarfile passes on
    whatever a PAX record or a base-256 field says (a NaN mtime, a negative uid or size), and
    reads a PAX number it cannot parse as 0, where Docker refuses the archive."""
    for key, raw in ti.pax_headers.items():
        parse = tarfile.PAX_NUMBER_FIELDS.get(key)
        if parse is None:
            continue
        try:
            parse(raw)
        except ValueError:
            raise InvalidInput(f"entry {ti.name!r}: PAX {key} {raw!r} is not a number") from None
    if not isinstance(ti.mtime, int | float) or not math.isfinite(ti.mtime) or abs(ti.mtime) >= MAX_MTIME:
        raise InvalidInput(f"entry {ti.name!r}: mtime {ti.mtime!r} is out of range")
    for field, value, limit in (("uid", ti.uid, MAX_ID), ("gid", ti.gid, MAX_ID), ("size", ti.size, None)):
        if not isinstance(value, int) or value < 0 or (limit is not None and value > limit):
            raise InvalidInput(f"entry {ti.name!r}: {field} {value!r} is out of range")
    if ti.ischr() or ti.isblk():
        if not 0 <= ti.devmajor < 1 << 12 or not 0 <= ti.devminor < 1 << 20:
            raise InvalidInput(f"entry {ti.name!r}: device {ti.devmajor}:{ti.devminor} is out of range")


class _Applier:
    def __init__(self, root: str, whiteouts: str) -> None:
        self.root = root
        self.whiteouts = whiteouts
        self.is_root = os.geteuid() == 0
        self.recording = Recording()
        self.content: dict[str, list[int]] = {}  # file -> its tar-split segments
        self.dirs: list[tuple[list[str], int, tarfile.TarInfo]] = []
        self.plain_dirs: set[str] = set()
        self.inlined = 0  # bytes of replaced files kept in the record

    def apply(self, ti: tarfile.TarInfo, rec: _Recorder) -> None:
        check_fields(ti)
        parts = securepath.split_name(ti.name)
        if not parts:
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts, ti)
            return
        parent = self._resolve_dir(parts[:-1], ti.name, create=True)
        rel = "/".join(parent + [base])
        path = os.path.join(self.root, rel)
        if ti.isdir():
            self._make_dir(path, rel)
            if "/".join(parent) in self.plain_dirs:
                self.plain_dirs.add(rel)  # a real directory in a plain one: a deep tree resolves nothing
            self.dirs.append((parent + [base], os.lstat(path).st_ino, ti))
            return
        if ti.isreg():
            self._write_file(ti, rec, path, rel)
            return
        if ti.issym():
            if not ti.linkname:  # symlink(2) refuses an empty target (ENOENT, naming no entry)
                raise InvalidInput(f"layer entry {ti.name!r}: a symlink with an empty target")
            self._create(path, rel, lambda: os.symlink(ti.linkname, path))
        elif ti.islnk():
            target = self._hardlink_target(ti)
            self._create(path, rel, lambda: self._link(ti, target, path))
        elif ti.isfifo():
            self._create(path, rel, lambda: os.mkfifo(path, 0o600))
        elif ti.ischr() or ti.isblk():
            if not self.is_root:
                return
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
            self._create(path, rel, lambda: os.mknod(path, kind | 0o600, os.makedev(ti.devmajor, ti.devminor)))
        else:
            raise InvalidInput(f"entry {ti.name!r}: unsupported tar entry type {ti.type!r}")
        self._metadata(path, ti)

    def _resolve_dir(self, parts: list[str], name: str, create: bool) -> list[str]:
        """securepath.resolve_dir, remembering plain directories (no symlink on the way) so the
        thousands of files in one directory cost no lstat of each component each time."""
        key = "/".join(parts)
        if key in self.plain_dirs:
            return parts
        resolved = securepath.resolve_dir(self.root, parts, name, create)
        if resolved == parts:
            self.plain_dirs.add(key)
        return resolved

    def _create(self, path: str, rel: str, make: Callable[[], T]) -> T:
        """Make a new entry; only when the name is taken, replace what an earlier entry put there."""
        try:
            return make()
        except FileExistsError:
            self._clear(path, rel)
            return make()

    def _whiteout(self, parts: list[str], ti: tarfile.TarInfo) -> None:
        base = parts[-1]
        hidden = base[len(WHITEOUT_PREFIX) :]
        if not hidden:
            raise InvalidInput(f"entry {ti.name!r}: bare whiteout")
        if hidden.startswith(WHITEOUT_PREFIX) and base != OPAQUE:
            return  # AUFS bookkeeping (.wh..wh.plnk and friends): not content
        parent = self._resolve_dir(parts[:-1], ti.name, create=True)
        parent_path = os.path.join(self.root, *parent)
        if self.whiteouts == "aufs":
            path = os.path.join(parent_path, base)
            self._clear(path, "/".join(parent + [base]))
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        elif base == OPAQUE:
            os.setxattr(parent_path, OVERLAY_OPAQUE_XATTR, b"y")
        else:
            path = os.path.join(parent_path, hidden)
            if os.path.lexists(path):
                raise InvalidInput(f"entry {ti.name!r}: whiteout of a path this layer created")
            os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))  # mode 0000 and the header's owner, as overlay2 makes it
            os.lchown(path, ti.uid, ti.gid)

    def _make_dir(self, path: str, rel: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o700)
            return
        if not stat.S_ISDIR(st.st_mode):
            self._clear(path, rel)
            os.mkdir(path, 0o700)

    def _clear(self, path: str, rel: str) -> None:
        """Replace whatever an earlier entry put here, keeping the recorded content of the files it
        removes inline first. Costs what it removes, never a scan of all the layer made so far:
        a hostile layer replacing one name over and over must stay linear."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            self._keep_inline(rel)
            os.unlink(path)
            return
        self.plain_dirs.clear()  # refilled as entries need it; sifting it for rel's subtree is not linear
        for top, _, files in walk(path):
            for name in files:
                self._keep_inline(f"{rel}{top[len(path) :]}/{name}")
        rmtree(path)

    def _keep_inline(self, rel: str) -> None:
        """The tar-split points at a file that is about to go: move its content into the record,
        which is held in memory, so only so much of it."""
        indices = self.content.pop(rel, [])
        if not indices:
            return
        with open(os.path.join(self.root, rel), "rb") as f:
            for index in indices:
                _, size, offset = self.recording.segments[index]
                self.inlined += size
                if self.inlined > MAX_KEPT_BYTES * 4:
                    raise InvalidInput(f"layer overwrites more than {MAX_KEPT_BYTES * 4} bytes of its own files")
                f.seek(offset)
                self.recording.inline(index, f.read(size))

    def _write_file(self, ti: tarfile.TarInfo, rec: _Recorder, path: str, rel: str) -> None:
        if rec.tell() != ti.offset_data:
            raise InvalidInput(f"entry {ti.name!r}: malformed header")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = self._create(path, rel, lambda: os.open(path, flags, 0o600))
        try:
            self.recording.raw(rec.take())
            self.content[rel] = []
            for offset, size in _stored_runs(ti):
                self.content[rel].append(self.recording.file(rel, size, offset))
                for chunk in rec.content(size):
                    while chunk:  # a write may take less than it was given
                        written = os.pwrite(fd, chunk, offset)
                        chunk, offset = chunk[written:], offset + written
            if ti.sparse:
                os.ftruncate(fd, ti.size)  # the holes after the last run read as zeros, as Docker writes them
            self._file_metadata(fd, ti)
        finally:
            os.close(fd)

    def _hardlink_target(self, ti: tarfile.TarInfo) -> str:
        parts = securepath.split_name(ti.linkname, "hardlink target of " + repr(ti.name))
        if not parts:
            raise InvalidInput(f"entry {ti.name!r}: hardlink to the layer root")
        parent = self._resolve_dir(parts[:-1], ti.name, create=False)
        target = os.path.join(self.root, *parent, parts[-1])
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise InvalidInput(f"entry {ti.name!r}: hardlink target {ti.linkname!r} is not in this layer") from None
        if stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"entry {ti.name!r}: hardlink to a directory")
        return target

    @staticmethod
    def _link(ti: tarfile.TarInfo, target: str, path: str) -> None:
        try:
            os.link(target, path, follow_symlinks=False)
        except FileNotFoundError:  # the entry replaced its own target (or a directory holding it)
            raise InvalidInput(f"entry {ti.name!r}: hardlink target {ti.linkname!r} is not in this layer") from None

    def _file_metadata(self, fd: int, ti: tarfile.TarInfo) -> None:
        """A regular file's metadata through its open descriptor: no path lookups, no links to follow.
        Owner before mode: chown clears setuid and setgid."""
        if self.is_root:
            os.fchown(fd, ti.uid, ti.gid)
        for key, value in ti.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                self._xattr(fd, key[len("SCHILY.xattr.") :], value)
        os.fchmod(fd, ti.mode & 0o7777)
        os.utime(fd, ns=_docker_times(ti))

    def _metadata(self, path: str, ti: tarfile.TarInfo) -> None:
        """Owner, xattrs, mode and times of what is at `path`, never of what a symlink there points
        to: a hardlink to a symlink is a symlink too, and chmod would follow it out of the layer."""
        if self.is_root:
            os.lchown(path, ti.uid, ti.gid)
        for key, value in ti.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                self._xattr(path, key[len("SCHILY.xattr.") :], value)
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):  # Docker's LUtimesNano: the mtime as it is, the atime left alone
            os.utime(
                path, ns=(st.st_atime_ns, _nanoseconds(ti.pax_headers.get("mtime", ti.mtime))), follow_symlinks=False
            )
        else:
            os.chmod(path, ti.mode & 0o7777)
            os.utime(path, ns=_docker_times(ti), follow_symlinks=False)

    def _xattr(self, target: str | int, name: str, value: str) -> None:
        if name.startswith("trusted.overlay."):
            return  # only our own whiteout handling may set overlay's attributes
        follow = isinstance(target, int)  # a descriptor has nothing to follow; a path must not be followed
        try:
            os.setxattr(target, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=follow)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise

    def finish_dirs(self) -> None:
        """Directory metadata last: writing children would change their mtimes.

        A later entry may have replaced the directory, or a directory above it, with a symlink:
        each path is resolved again inside the layer and must still be the directory made.
        """
        for parts, ino, ti in reversed(self.dirs):
            try:
                parent = self._resolve_dir(parts[:-1], ti.name, create=False)
                path = "/".join([self.root, *parent, parts[-1]])
                st = os.lstat(path)
            except (InvalidInput, FileNotFoundError):
                continue
            if stat.S_ISDIR(st.st_mode) and st.st_ino == ino:
                self._metadata(path, ti)


def _stored_runs(ti: tarfile.TarInfo) -> list[tuple[int, int]]:
    """(offset in the file, length) of each run of content the tar stores, in stream order: the
    whole file, or a sparse file's data (GNU's old format or PAX 0.0, 0.1, 1.0, as tarfile reads
    them), whose gaps are holes."""
    sparse = cast("list[tuple[int, int]] | None", ti.sparse)  # typeshed's annotation is not what tarfile sets
    return [(offset, size) for offset, size in sparse if size] if sparse else [(0, ti.size)]


_GO_MAX_TIME_NS = (1 << 63) - 1  # Docker's maxTime on 64-bit: time.Unix(0, 1<<63-1), in 2262


def _nanoseconds(value: str | float) -> int:
    """A tar time (a PAX decimal, or tarfile's number) in nanoseconds, without float rounding."""
    if type(value) is int:  # a ustar header's whole seconds, as most entries have
        return value * 10**9
    text = str(value)
    seconds, _, fraction = text.partition(".")
    sign = -1 if text.startswith("-") else 1
    return int(seconds) * 10**9 + sign * int(fraction[:9].ljust(9, "0"))


def _docker_times(ti: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) as Docker's createTarFile sets them: the atime never before the mtime, and
    either one before 1970 or after 2262 the epoch (its Chtimes)."""
    pax = ti.pax_headers
    mtime = _nanoseconds(pax.get("mtime", ti.mtime))
    atime = max(mtime, _nanoseconds(pax["atime"])) if "atime" in pax else mtime
    return _go_time(atime), _go_time(mtime)


def _go_time(ns: int) -> int:
    return ns if 0 <= ns <= _GO_MAX_TIME_NS else 0


def extract(stream: BinaryIO, dest: str, limits: Limits, whiteouts: str | None = None) -> Extracted:
    """Extract an uncompressed layer tar stream into the empty directory `dest`."""
    whiteouts = whiteouts or whiteout_format()
    applier = _Applier(dest, whiteouts)
    rec = _Recorder(stream, limits)  # its thread starts reading: closed below, whatever happens
    entries = 0
    try:
        with open_tar(rec) as tf:
            for ti in members(tf):
                entries += 1
                if entries > limits.max_entries:
                    raise InvalidInput(f"layer has more than the limit of {limits.max_entries} entries")
                if rec.kept > limits.header_bytes_allowed(entries):
                    raise InvalidInput(
                        f"layer has {rec.kept} bytes of tar headers in {entries} entries "
                        f"(the limit is {limits.header_bytes_allowed(entries)})"
                    )
                applier.apply(ti, rec)
            applier.finish_dirs()
            rec.drain(MAX_KEPT_BYTES)  # kept for the tar-split: zero padding, up to a limit
            applier.recording.raw(rec.take())
    except tarfile.TarError as exc:
        raise InvalidInput(f"corrupt layer tar: {exc}") from None
    except (EOFError, UnicodeError) as exc:
        raise InvalidInput(f"corrupt layer tar: {exc}") from None
    finally:
        rec.close()
    size, disk = measure(dest)
    return Extracted(
        diff_id="sha256:" + rec.hash.hexdigest(),
        size=size,
        disk=disk,
        entries=entries,
        tarsplit=applier.recording.encode(),
        whiteouts=whiteouts,
    )
