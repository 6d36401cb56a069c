"""`bilge build`, run by both doors: the typer command (cli.py) and the side door
(bilge/direct.py), which reads Docker's build flags without typer. A build that is all cache
does ~10 ms of work; typer, click and the front door's other rooms would take ~50 ms before
it started.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run(
    context: str,
    *,
    tags: list[str] | None = None,
    file: str | None = None,
    build_args: list[str] | None = None,
    no_cache: bool = False,
    target: str | None = None,
    labels: list[str] | None = None,
    quiet: bool = False,
) -> None:
    """Build CONTEXT as `docker build` would; -q prints only the image ID."""
    import gc

    gc.disable()  # the imports make thousands of objects and no garbage: collecting meanwhile is ~1 ms lost
    try:
        from pathlib import Path

        from .. import reference
        from ..errors import InvalidInput
        from ..session import open_store
        from .builder import Builder, Options
    finally:
        gc.enable()

    tags = list(tags or [])
    for name in tags:
        if reference.parse(name).digest:
            raise InvalidInput(f"invalid reference format: {name}: a tag cannot hold a digest")
    options = Options(
        context=Path(context),
        dockerfile=Path(file).absolute() if file else None,  # as the docker CLI reads -f: from where we are
        tags=tags,
        build_args=_pairs(build_args, "--build-arg"),
        no_cache=no_cache,
        target=target,
        labels=_pairs(labels, "--label"),
    )
    say: Callable[[str], None] = (lambda line: None) if quiet else _out
    store = open_store(create=True)
    try:
        image_id = Builder(store, options, say).build()  # a failed RUN exits with its code
    finally:
        store.close()
    if quiet:
        _out(image_id)


def _out(text: str) -> None:
    """A line of the build's progress, out at once: a RUN's output goes straight to our stdout
    from the container, and must come after its "Running in" line."""
    if text:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """KEY=VALUE flags; a bare KEY takes its value from our environment, as Docker's do."""
    values = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not key:
            from ..errors import InvalidInput

            raise InvalidInput(f"invalid {flag} {item!r}: expected KEY=VALUE")
        if sep:
            values[key] = value
        elif key in os.environ:
            values[key] = os.environ[key]
    return values
