"""The build context as Docker's classic builder sees it: what the docker CLI sends, where COPY
and ADD find their sources in it, and the checksums the builder prints in history.

The CLI tars the context directory, leaving out what .dockerignore excludes (moby's
fileutils.PatternMatcher, Docker 20.10); the daemon hashes each tar entry as it arrives (tarsum
v1: the header fields but mtime, then the content) and resolves COPY's sources in the extracted
copy, symlinks followed as if the context were the root (`..` and absolute targets stay inside).
`COPY lib.bin /opt/` records `file:<hash of lib.bin's entry>`, `COPY dir /x` records
`dir:<sha256 of its entries' sums, sorted, comma-joined>`, several sources `multi:` over those.

Two kinds of root are hashed differently, as Docker does. The context came through the CLI's
tar: owned by 0:0, no user or group names, permission bits only. A stage's or image's root
(`COPY --from`) is read in place (Docker's lazy source): owners, the names this host gives them,
and the file type bits in the mode, as Go's archive/tar reports them.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path

from ..errors import InvalidInput
from .record import Record

TYPE_CHECKING = False  # typing costs ~5 ms to import, more than a cached build's work; mypy takes this as True
if TYPE_CHECKING:
    from typing import Protocol

    class Sums(Protocol):
        """Sums remembered from earlier builds, by a context file's path (memo.py keeps them). `basis`
        is everything a sum was computed from: a sum is only ever returned for the same basis."""

        def get(self, path: str, basis: str) -> str | None: ...

        def put(self, path: str, basis: str, value: str) -> None: ...


MAX_LINK_HOPS = 255  # moby's symlink.FollowSymlinkInScope
RACY = 2.0  # seconds: a file changed this recently may change again within its timestamp's granularity
_TYPEFLAGS = {
    stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4", stat.S_IFDIR: "5", stat.S_IFIFO: "6",
}  # fmt: skip


class Source(Record):
    """One source of a COPY or ADD.

    `name`: as Docker names it, relative to the root — what the destination's file name comes
    from (a symlink keeps its own name). `path`: where the content is on disk, symlinks resolved
    inside the root. `checksum`: `file:<hex>` or `dir:<hex>`, as Docker's history shows it.
    `url`: for ADD's download of a URL, the URL (`path` is the downloaded file).
    """

    __slots__ = ("name", "path", "checksum", "url")

    def __init__(self, name: str, path: Path, checksum: str, url: str | None = None) -> None:
        self.name, self.path, self.checksum, self.url = name, path, checksum, url


class DockerIgnore:
    """A context's .dockerignore: which paths the CLI leaves out of the context it sends."""

    def __init__(self, lines: Sequence[str]) -> None:
        """`lines`: the file's lines. Comments (`#` first), blank lines, a leading `/` or `./`
        go; `!` marks an exception; `**` spans directories; the rest is filepath.Match's glob."""
        self._patterns: list[tuple[bool, re.Pattern[str], int, str]] = []
        for number, line in enumerate(lines):
            text = line.removeprefix("\ufeff") if number == 0 else line
            if text.startswith("#") or not text.strip():
                continue
            pattern = text.strip()
            exception = pattern.startswith("!")
            if exception:
                pattern = pattern[1:].strip()
                if not pattern:
                    raise InvalidInput('.dockerignore: illegal exclusion pattern: "!"')
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
            try:
                _glob(pattern)  # the CLI checks each pattern with filepath.Match
                regex = re.compile(_ignore_regex(pattern))  # as Go's regexp: `.` stops at a newline
            except (ValueError, re.error):
                raise InvalidInput(f".dockerignore: syntax error in pattern: {pattern}") from None
            self._patterns.append((exception, regex, pattern.count("/") + 1, pattern))

    @classmethod
    def load(cls, context: Path) -> DockerIgnore:
        """The context's .dockerignore, or one that excludes nothing."""
        try:
            text = (context / ".dockerignore").read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return cls([])
        return cls(text.split("\n"))  # as Go's bufio.Scanner: only \n ends a line

    def excluded(self, rel: str, is_dir: bool = False) -> bool:
        """Whether `rel` (relative to the context, `/`-separated) is missing from the context
        the CLI sends. A directory stays when an exception could match inside it: its files are
        then judged one by one, as the CLI walks into it."""
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            if self._left_out("/".join(parts[:depth]), True):
                return True
        return self._left_out(rel, is_dir)

    def _left_out(self, rel: str, is_dir: bool) -> bool:
        return self._matches(rel) and not (is_dir and self._exception_inside(rel))

    def _matches(self, rel: str) -> bool:
        """moby's PatternMatcher.Matches: the last pattern that matches the path, or the same
        number of its leading directories, decides."""
        parent = rel.rpartition("/")[0]
        parent_dirs = parent.split("/") if parent else []
        matched = False
        for exception, regex, depth, _ in self._patterns:
            match = regex.fullmatch(rel) is not None
            if not match and parent and depth <= len(parent_dirs):
                match = regex.fullmatch("/".join(parent_dirs[:depth])) is not None
            if match:
                matched = not exception
        return matched

    def _exception_inside(self, rel: str) -> bool:
        return any(exception and (text + "/").startswith(rel + "/") for exception, _, _, text in self._patterns)

    def _sent(self, rel: str, is_dir: bool) -> bool:
        """Whether the CLI sends `rel` as a tar entry of its own (an excluded directory kept for
        its exceptions is not sent: the daemon creates it, and it has no sum)."""
        return not self.excluded(rel, is_dir) and not self._matches(rel)


def sources(
    root: Path,
    patterns: Sequence[str],
    ignore: DockerIgnore | None,
    command: str = "COPY",
    sums: Sums | None = None,
    remote: Callable[[str], Source] | None = None,
) -> list[Source]:
    """The sources of `COPY <patterns…> dest`, in Docker's order (a wildcard's matches as a walk
    of the root finds them).

    `root` is the context directory with its `ignore`, or, with `ignore` None, a stage's or
    image's root file system (COPY --from). A leading `/` or `./` is dropped; wildcards are
    filepath.Match's, matched against every path under the root; nothing outside the root is
    ever read. `sums`, for the context only, spares hashing a file whose stat is as it was when
    its sum was remembered (any write changes its ctime, so a changed file is hashed again).
    A URL is `remote`'s to fetch (ADD's); without it, a URL is refused, as COPY refuses one.
    """
    tree = Tree(root.resolve(), ignore, sums)
    found: list[Source] = []
    for pattern in patterns:
        if pattern.startswith(("http://", "https://")):  # urlutil.IsURL
            if remote is None:
                raise InvalidInput(f"{command} failed: source can't be a URL for {command}")
            found.append(remote(pattern))
            continue
        name = pattern.removeprefix("/").removeprefix("./")
        if _has_wildcards(name):
            found += [tree.source(rel, command) for rel in tree.walk("") if rel and _glob_matches(name, rel)]
        else:
            found.append(tree.source(name, command))
    if not found:
        raise InvalidInput(f"{command} failed: no source files were specified")
    return found


def checksum(found: Sequence[Source]) -> str:
    """What a COPY or ADD records in history ("COPY <checksum> in <dest> "): one source's own
    checksum, or `multi:` over all of them in order."""
    if len(found) == 1:
        return found[0].checksum
    import hashlib

    return "multi:" + hashlib.sha256(",".join(s.checksum for s in found).encode()).hexdigest()


class Tree:
    """A root as the builder's source sees it: the context as the CLI sent it (`ignore` set), or
    a stage's root read in place."""

    def __init__(self, root: Path, ignore: DockerIgnore | None, sums: Sums | None = None) -> None:
        self.root, self.ignore, self.sums = str(root), ignore, sums
        self._first_links: dict[int, str] | None = None

    def source(self, name: str, command: str) -> Source:
        """copyInfoForFile: the path resolved in the root; a file's sum, or a directory's."""
        rel = self.resolve(name)
        if rel is None:
            raise InvalidInput(f"{command} failed: forbidden path outside the build context: {name} ()")
        st = self._lstat(rel)
        if st is None or not self.present(rel, st):
            where = "file not found in build context or excluded by .dockerignore: " if self.ignore else ""
            raise InvalidInput(f"{command} failed: {where}stat {name}: file does not exist")
        if not stat.S_ISDIR(st.st_mode):
            return Source(name, self._path(rel), f"file:{self.sum(name)}")
        sums = sorted(s for s in (self.sum(entry) for entry in self.walk(rel) if entry) if s is not None)
        import hashlib

        return Source(name, self._path(rel), "dir:" + hashlib.sha256(",".join(sums).encode()).hexdigest())

    def resolve(self, name: str) -> str | None:
        """`name` with every symlink followed inside the root, as moby's FollowSymlinkInScope
        does: `..` stops at the root, absolute targets start from it. None when `name` itself
        climbs out (lexically, before any link is read)."""
        joined = os.path.normpath(self.root + "/" + name)
        if joined != self.root and not joined.startswith(self.root.rstrip("/") + "/"):
            return None
        pending = joined[len(self.root) :].split("/")
        parts: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                parts = parts[:-1]
                continue
            full = os.path.join(self.root, *parts, part)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                st = None
            except NotADirectoryError:
                return None  # Go's Lstat error: "forbidden path", as Docker says
            if st is None or not self.present("/".join([*parts, part]), st):
                parts.append(part)  # missing (or not sent): taken as it is
                continue
            if not stat.S_ISLNK(st.st_mode):
                parts.append(part)
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None
            target = os.readlink(full)
            if target.startswith("/"):
                parts = []
            pending[:0] = target.split("/")
        return "/".join(parts)

    def present(self, rel: str, st: os.stat_result) -> bool:
        """Whether the daemon's copy of the root has `rel` (the CLI sent it, or a directory
        above something it sent)."""
        if self.ignore is None or not rel:
            return True
        if stat.S_ISSOCK(st.st_mode):
            return False  # the CLI's tar skips sockets
        return not self.ignore.excluded(rel, stat.S_ISDIR(st.st_mode))

    def walk(self, rel: str) -> Iterator[str]:
        """`rel` and everything under it that is present, as Go's filepath.Walk visits them:
        names in byte order, depth first, symlinks not followed."""
        stack = [rel]  # not recursion: the context's depth is its author's to choose
        while stack:
            rel = stack.pop()
            yield rel
            st = self._lstat(rel)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            present = []
            for name in sorted(os.listdir(self._path(rel)), key=os.fsencode):
                child = f"{rel}/{name}" if rel else name
                child_st = self._lstat(child)
                if child_st is not None and self.present(child, child_st):
                    present.append(child)
            stack.extend(reversed(present))

    def sum(self, name: str) -> str | None:
        """The Source.Hash of Docker's builder: the sum of the entry `name` resolves to, or,
        where it has none, a path (the context: `name`; a stage: the resolved path). None when
        `name` cannot be resolved (a directory's checksum then leaves it out, as Docker does)."""
        rel = self.resolve(name)
        if rel is None:
            return None
        st = self._lstat(rel)
        if self.ignore is not None:
            if st is None or not rel or not self.ignore._sent(rel, stat.S_ISDIR(st.st_mode)):
                return name  # not a tar entry of its own: Docker's sums have nothing for it
            return self._tarsum(rel, st, sent=True)
        return self._tarsum(rel or ".", st, sent=False) if st else rel or "."

    def _tarsum(self, rel: str, st: os.stat_result, sent: bool) -> str:
        """tarsum v1 of one entry: header fields in their order (mtime left out), the sorted
        xattrs, then the content of a regular file."""
        kind = stat.S_IFMT(st.st_mode)
        if kind not in _TYPEFLAGS:
            raise InvalidInput(f"failed to create hash for {rel}: archive/tar: sockets not supported")
        typeflag, linkname = _TYPEFLAGS[kind], ""
        path = self._path(rel)
        if kind == stat.S_IFLNK:
            linkname = os.readlink(path)
        first = self._first_link(rel, st) if sent and kind == stat.S_IFREG and st.st_nlink > 1 else rel
        if first != rel:
            typeflag, linkname = "1", first  # the CLI sends a later name of an inode as a hard link
        device = kind in (stat.S_IFCHR, stat.S_IFBLK)
        fields = [
            ("name", rel + "/" if kind == stat.S_IFDIR else rel),
            ("mode", str(stat.S_IMODE(st.st_mode) if sent else st.st_mode)),
            ("uid", "0" if sent else str(st.st_uid)),
            ("gid", "0" if sent else str(st.st_gid)),
            ("size", str(st.st_size if typeflag == "0" else 0)),
            ("typeflag", typeflag),
            ("linkname", linkname),
            ("uname", "" if sent else _user(st.st_uid)),
            ("gname", "" if sent else _group(st.st_gid)),
            ("devmajor", str(os.major(st.st_rdev) if device else 0)),
            ("devminor", str(os.minor(st.st_rdev) if device else 0)),
        ]
        capability = _capability(path)
        content = typeflag == "0" and st.st_size > 0
        basis = None
        if content and sent and self.sums is not None:
            basis = "\0".join([*(value for _, value in fields), capability.hex() if capability else "", _identity(st)])
            known = self.sums.get(str(path), basis)
            if known is not None:
                return known
        import hashlib

        started = time.time()
        digest = hashlib.sha256()
        for key, value in fields:
            digest.update(os.fsencode(key + value))
        if capability is not None:
            digest.update(b"security.capability" + capability)
        if content:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
        value = digest.hexdigest()
        if basis is not None and max(st.st_mtime, st.st_ctime) < started - RACY and self._unchanged(rel, st):
            self.sums.put(str(path), basis, value)  # type: ignore[union-attr]
        return value

    def _unchanged(self, rel: str, st: os.stat_result) -> bool:
        """Whether `rel` still has the stat it had before it was read."""
        now = self._lstat(rel)
        return now is not None and _identity(now) == _identity(st)

    def _first_link(self, rel: str, st: os.stat_result) -> str:
        """The name the CLI's tar sends an inode's content under: the first the walk meets."""
        if self._first_links is None:
            self._first_links = {}
            for entry in self.walk(""):
                entry_st = self._lstat(entry)
                if entry and entry_st and stat.S_ISREG(entry_st.st_mode) and entry_st.st_nlink > 1:
                    self._first_links.setdefault(entry_st.st_ino, entry)
        return self._first_links.get(st.st_ino, rel)

    def _path(self, rel: str) -> Path:
        return Path(self.root, rel) if rel and rel != "." else Path(self.root)

    def _lstat(self, rel: str) -> os.stat_result | None:
        try:
            return os.lstat(self._path(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None


def _identity(st: os.stat_result) -> str:
    """Which content a file has, as far as its stat can tell: a write changes mtime and ctime,
    a replacement the inode (ctime cannot be set back)."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _capability(path: Path) -> bytes | None:
    """The one xattr Docker's tar carries, a revision 3 capability set as revision 2 (its root
    uid means nothing outside the user namespace), as moby's ReadSecurityXattrToTarHeader does."""
    try:
        value = bytearray(os.getxattr(path, "security.capability", follow_symlinks=False))
    except OSError:
        return None  # most files have none
    if len(value) > 3 and value[3] == 3:
        value[3] = 2
        del value[20:]
    return bytes(value)


def _clean(path: str) -> str:
    """Go's filepath.Clean (POSIX keeps a leading `//`, Go does not)."""
    cleaned = os.path.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


@cache
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@cache
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


# -- globs ---------------------------------------------------------------------------------------


def _has_wildcards(name: str) -> bool:
    """containsWildcards: an unescaped *, ? or [."""
    escaped = False
    for ch in name:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "*?[":
            return True
    return False


def _glob_matches(pattern: str, name: str) -> bool:
    """Go's filepath.Match; a malformed pattern matches nothing, as Docker ignores the error."""
    try:
        return re.fullmatch(_glob(pattern), name, re.DOTALL) is not None
    except ValueError:
        return False


def _glob(pattern: str) -> str:
    """filepath.Match's syntax as a regular expression: `*` and `?` stop at `/`, `[...]` and
    `[^...]` classes with ranges, `\\` escapes. ValueError for what Go calls ErrBadPattern."""
    out: list[str] = []
    pos = 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            regex, pos = _glob_class(pattern, pos)
            out.append(regex)
        elif ch == "\\":
            if pos == len(pattern):
                raise ValueError("syntax error in pattern")
            out.append(re.escape(pattern[pos]))
            pos += 1
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _glob_class(pattern: str, pos: int) -> tuple[str, int]:
    """A `[...]` class from just after its `[`: the regular expression and where it ends. Unlike
    `*` and `?`, a class can match `/`; a reversed range matches nothing."""
    negated = pattern.startswith("^", pos)
    pos += negated
    ranges: list[str] = []
    count = 0
    while not (pos < len(pattern) and pattern[pos] == "]" and count):
        low, pos = _class_char(pattern, pos)
        high = low
        if pattern.startswith("-", pos):
            high, pos = _class_char(pattern, pos + 1)
        count += 1
        if low <= high:
            ranges.append(f"{re.escape(low)}-{re.escape(high)}")
    if not ranges:
        return ("." if negated else "(?!)"), pos + 1
    return ("[^" if negated else "[") + "".join(ranges) + "]", pos + 1


def _class_char(pattern: str, pos: int) -> tuple[str, int]:
    if pos >= len(pattern) or pattern[pos] in "-]":
        raise ValueError("syntax error in pattern")
    if pattern[pos] == "\\":
        pos += 1
        if pos >= len(pattern):
            raise ValueError("syntax error in pattern")
    return pattern[pos], pos + 1


def _ignore_regex(pattern: str) -> str:
    """moby's Pattern.compile: `**` spans directories, `*` and `?` stop at `/`, `\\` escapes,
    and everything else goes into the regular expression as it is."""
    out: list[str] = []
    pos = 0
    while pos < len(pattern):
        ch = pattern[pos]
        pos += 1
        if ch == "*" and pattern.startswith("*", pos):
            pos += 1
            if pattern.startswith("/", pos):
                pos += 1
            out.append(".*" if pos == len(pattern) else "(.*/)?")
        elif ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch in ".$":
            out.append("\\" + ch)
        elif ch == "\\" and pos < len(pattern):
            out.append("\\" + pattern[pos])
            pos += 1
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)
