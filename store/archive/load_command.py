"""`bilge load` (and `image load`), run by both doors: the typer command (store/cli.py) and the
side door (bilge/direct.py), which reads its flags without typer: typer and click are a
tenth of loading a 200 MB archive."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import BinaryIO

from ..session import err, open_store, out


def load(*, input: str | None = None, quiet: bool = False, platform: str | None = None) -> None:
    from ..errors import InvalidInput
    from ..oci import platforms
    from .load import load as do_load

    wanted = platforms.parse(platform) if platform else None
    path = Path(input) if input is not None else None
    if path is None and sys.stdin.isatty():
        raise InvalidInput("requested load from stdin, but stdin is empty (use -i FILE)")
    if path is not None and not path.exists():
        raise InvalidInput(f"open {path}: no such file or directory")
    store = open_store(create=True)
    if path is not None and path.is_dir():
        results = do_load(store, path, wanted)
    else:
        with _progress(path, quiet) as stream:
            results = do_load(store, stream, wanted)
    for result in results:
        for name, old in result.replaced if not quiet else []:
            err(f"The image {name} already exists, renaming the old one with ID {old} to empty string")
        for name in result.tags:
            out(f"Loaded image: {name}")
        if not result.tags:
            out(f"Loaded image ID: {result.image_id}")


class _Counted:
    """A binary stream that reports each read's size (for the progress bar)."""

    def __init__(self, raw: BinaryIO, advance: Callable[[int], None]) -> None:
        self.raw = raw
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.advance(len(data))
        return data


@contextmanager
def _progress(path: Path | None, quiet: bool) -> Iterator[BinaryIO]:
    """The archive to read, with a bar of bytes read when stderr is a terminal."""
    from ..progress import Bars

    with open(path, "rb") if path is not None else nullcontext(sys.stdin.buffer) as raw:
        if quiet or not sys.stderr.isatty():
            yield raw
            return
        bars = Bars()
        total = path.stat().st_size if path is not None else 0
        bars.start("archive", total, "Loading")
        try:
            yield _Counted(raw, lambda n: bars.advance("archive", n))  # type: ignore[misc]
            bars.finish("archive", "Loaded")
        finally:
            bars.close()
