"""ADD <url>: the file a URL names, downloaded as Docker's classic builder downloads it.

moby's copier.storeRemote: a GET (redirects followed, a status of 400 or more is an error),
the body written to a file of its own, mode 0600, named after the URL's path (its last part;
else the Content-Disposition's filename; else none, which only a destination that is not a
directory can do without), its mtime the Last-Modified header's time (the epoch without one).
Never unpacked, even when it is an archive. Its checksum is the file's tarsum as a lazy
source hashes it (owner and the names of its user and group, the mode with its type bits),
written bare in history (`ADD <hex> in /dest`, where a context file has `file:<hex>`); the
build cache compares it, so an unchanged download hits and a changed one misses, whatever its
mtime. The download is made on every build, as Docker makes it.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import InvalidInput
from . import context

UNNAMED = "__unnamed__"  # where moby writes a download it cannot name


def is_url(name: str) -> bool:
    """urlutil.IsURL: what ADD fetches instead of reading from the context."""
    return name.startswith(("http://", "https://"))


def fetch(url: str, scratch: Path, command: str = "ADD") -> context.Source:
    """Download `url` into a new directory under `scratch`; the Source names the file as the
    destination will ("" when the URL gives no name)."""
    import sys

    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # as the registry client does
    import httpx

    directory = Path(scratch) / f"remote-{os.urandom(8).hex()}"
    directory.mkdir(parents=True)
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=httpx.Timeout(60.0, connect=30.0)) as response:
            if response.status_code >= 400:
                body = " ".join(response.read().decode(errors="replace").split())
                raise InvalidInput(
                    f"{command} failed: failed to GET {url} with status {response.status_code} "
                    f"{response.reason_phrase}: {body[:300]}"
                )
            name = _filename(url, response.headers.get("content-disposition"))
            path = directory / (name or UNNAMED)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                for chunk in response.iter_bytes(1 << 20):
                    f.write(chunk)
            modified = _http_time(response.headers.get("last-modified"))
    except httpx.HTTPError as e:
        raise InvalidInput(f'{command} failed: Get "{url}": {e}') from None
    os.utime(path, (modified, modified))
    checksum = context.Tree(directory, None).sum(path.name)
    assert checksum is not None
    return context.Source(name, path, checksum, url)


def _filename(url: str, disposition: str | None) -> str:
    """getFilenameForDownload: the URL path's last part, else Content-Disposition's filename."""
    path = unquote(urlsplit(url).path)
    if path and not path.endswith("/") and posixpath.basename(path):
        return posixpath.basename(path)
    if disposition:
        from email.message import Message

        message = Message()
        message["content-disposition"] = disposition
        filename = message.get_param("filename", header="content-disposition")
        if isinstance(filename, str) and filename and not filename.endswith("/"):
            return posixpath.basename(filename)
    return ""


def _http_time(text: str | None) -> float:
    """http.ParseTime of Last-Modified (RFC 1123, RFC 850, asctime); the epoch, as moby's zero
    time becomes, when there is none or it does not parse."""
    if not text:
        return 0
    from email.utils import mktime_tz, parsedate_tz

    parsed = parsedate_tz(text)
    return float(mktime_tz(parsed)) if parsed else 0
