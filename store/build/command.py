"""`bilge build` read without typer: Docker's flags parsed here, the build run from here.

A build that is all cache does ~10 ms of work; typer, click and the front door's other rooms
would take ~50 ms before it started. bilge/entry.py asks `direct` first: for `[--root DIR]
[--debug] build|image build` with build's own flags (long or short, `--flag=value`, `-tNAME`,
`-qt NAME`, `--` before CONTEXT) and exactly one CONTEXT it returns the build to run; for
anything else (--help, an unknown flag, a flag without its value, no CONTEXT or two) it
returns None, and the typer command (cli.py) answers as click does. Both run `run`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

# flag -> (the option it sets, whether it takes a value)
_FLAGS = {
    "-t": ("tags", True), "--tag": ("tags", True),
    "-f": ("file", True), "--file": ("file", True),
    "--build-arg": ("build_args", True),
    "--target": ("target", True),
    "--label": ("labels", True),
    "--no-cache": ("no_cache", False),
    "-q": ("quiet", False), "--quiet": ("quiet", False),
}  # fmt: skip
_LISTS = ("tags", "build_args", "labels")


class Direct:
    """A parsed `bilge build` command line."""

    def __init__(self, root: str | None, debug: bool, context: str, values: dict) -> None:
        self.root, self.debug, self.context, self.values = root, debug, context, values

    def run(self) -> None:
        run(self.context, root=self.root, **self.values)


def direct(argv: list[str]) -> Direct | None:
    """The build `argv` asks for, or None when it is not one this parser takes whole."""
    root: str | None = None
    debug = False
    words = iter(argv)
    word = next(words, None)
    while word is not None and word.startswith("-"):  # the front door's own options
        if word == "--debug":
            debug = True
        elif word == "--root":
            root = next(words, None)
            if root is None:
                return None
        elif word.startswith("--root="):
            root = word.removeprefix("--root=")
        else:
            return None
        word = next(words, None)
    if word == "image":
        word = next(words, None)
    if word != "build":
        return None
    values: dict = {"tags": [], "file": None, "build_args": [], "no_cache": False, "target": None, "labels": [],
                    "quiet": False}  # fmt: skip
    positional: list[str] = []
    for word in words:
        if word == "--":
            positional += words
            break
        if word.startswith("--"):
            name, equals, value = word.partition("=")
            if name not in _FLAGS:
                return None
            key, takes = _FLAGS[name]
            if not takes:
                if equals:
                    return None
                values[key] = True
                continue
            if not equals:
                following = next(words, None)
                if following is None:
                    return None
                value = following
            _set(values, key, value)
        elif word.startswith("-") and word != "-":
            for pos in range(1, len(word)):  # a cluster of short flags, the last may take a value
                if "-" + word[pos] not in _FLAGS:
                    return None
                key, takes = _FLAGS["-" + word[pos]]
                if not takes:
                    values[key] = True
                    continue
                attached = word[pos + 1 :] or next(words, None)
                if attached is None:
                    return None
                _set(values, key, attached)
                break
        else:
            positional.append(word)
    if len(positional) != 1:
        return None
    return Direct(root, debug, positional[0], values)


def _set(values: dict, key: str, value: str) -> None:
    if key in _LISTS:
        values[key].append(value)
    else:
        values[key] = value


def run(
    context: str,
    *,
    root: str | None = None,
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
        from ..core import Store
        from ..errors import InvalidInput
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
    store = Store(Path(root) if root else None)
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
