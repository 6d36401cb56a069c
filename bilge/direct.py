"""The side door: the commands people run most, read without typer.

typer and click, with every room's commands mounted on them, take ~70 ms before a command
starts: more than `images` then does on a store of hundreds of images, and more than a build
that is all cache. bilge/entry.py asks `read` first. For `[--root DIR] [--debug] COMMAND` with
one of the commands below and only flags it lists (long or short, `--flag=value`, `-fVALUE`,
a cluster such as `-qt NAME`, `--` before the arguments, the positional arguments it takes),
it returns the call to make; for anything else (--help, a flag it does not know, a flag
without its value, an argument too many or missing) it returns None, and the typer command
answers as click does. Both doors call the same function with the same arguments
(tests/unit/test_side_door.py reads the same lines through both).
"""

from __future__ import annotations

import importlib
from pathlib import Path

TYPE_CHECKING = False  # dataclasses and typing cost ~5 ms to import, half a cached build; mypy takes this as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


class Command:
    """A command the side door reads: its flags, its positional argument, what runs it."""

    def __init__(
        self,
        target: str,
        flags: dict[str, tuple[str, bool]],
        defaults: dict[str, Any],
        argument: str | None = None,
        required: bool = False,
    ) -> None:
        self.target = target  # "module:function", imported only when it runs
        self.flags = flags  # flag -> (the keyword it sets, whether it takes a value)
        self.defaults = defaults  # every keyword's default; a list collects a repeated flag
        self.argument = argument  # the keyword the positional argument fills
        self.required = required  # whether that argument must be given


BUILD = Command(
    "bilge.store.build.command:run",
    {
        "-t": ("tags", True), "--tag": ("tags", True),
        "-f": ("file", True), "--file": ("file", True),
        "--build-arg": ("build_args", True),
        "--target": ("target", True),
        "--label": ("labels", True),
        "--no-cache": ("no_cache", False),
        "-q": ("quiet", False), "--quiet": ("quiet", False),
    },
    {"tags": [], "file": None, "build_args": [], "no_cache": False, "target": None, "labels": [], "quiet": False},
    argument="context",
    required=True,
)  # fmt: skip
IMAGES = Command(
    "bilge.store.images_command:images",
    {
        "-a": ("all", False), "--all": ("all", False),
        "-q": ("quiet", False), "--quiet": ("quiet", False),
        "--digests": ("digests", False),
        "--no-trunc": ("no_trunc", False),
        "-f": ("filter", True), "--filter": ("filter", True),
        "--format": ("format", True),
    },
    {"all": False, "quiet": False, "digests": False, "no_trunc": False, "filter": [], "format": "table"},
    argument="repository",
)  # fmt: skip
DF = Command(
    "bilge.reports.df_command:system_df",
    {
        "-v": ("verbose", False),
        "--verbose": ("verbose", False),
        "--disk": ("disk", False),
        "--format": ("format", True),
    },
    {"verbose": False, "disk": False, "format": "table"},
)
PULL = Command(
    "bilge.store.registry.pull_command:pull",
    {
        "--platform": ("platform", True),
        "-q": ("quiet", False), "--quiet": ("quiet", False),
        "--insecure": ("insecure", False),
    },
    {"platform": None, "quiet": False, "insecure": False},
    argument="name",
    required=True,
)  # fmt: skip
LOAD = Command(
    "bilge.store.archive.load_command:load",
    {
        "-i": ("input", True), "--input": ("input", True),
        "-q": ("quiet", False), "--quiet": ("quiet", False),
        "--platform": ("platform", True),
    },
    {"input": None, "quiet": False, "platform": None},
)  # fmt: skip

COMMANDS = {
    ("build",): BUILD,
    ("image", "build"): BUILD,
    ("images",): IMAGES,
    ("image", "ls"): IMAGES,
    ("system", "df"): DF,
    ("df",): DF,
    ("load",): LOAD,
    ("image", "load"): LOAD,
    ("pull",): PULL,
    ("image", "pull"): PULL,
}


class Call:
    """A command line the side door read whole: the front door's options and the call to make."""

    def __init__(self, root: str | None, debug: bool, command: Command, values: dict[str, Any]) -> None:
        self.root, self.debug, self.command, self.values = root, debug, command, values

    def run(self) -> None:
        from bilge.store.session import Settings, use

        use(Settings(Path(self.root) if self.root is not None else None, self.debug))
        module, _, function = self.command.target.partition(":")
        getattr(importlib.import_module(module), function)(**self.values)


def read(argv: list[str]) -> Call | None:
    """The call `argv` asks for, or None when it is not one the side door takes whole."""
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
    if word is None:
        return None
    command = COMMANDS.get((word, next(words, "")) if word in ("image", "system") else (word,))
    if command is None:
        return None
    values = _flags(command, words)
    return None if values is None else Call(root, debug, command, values)


def _flags(command: Command, words: Iterator[str]) -> dict[str, Any] | None:
    values = {key: list(value) if isinstance(value, list) else value for key, value in command.defaults.items()}
    positional: list[str] = []
    for word in words:
        if word == "--":
            positional += words
            break
        if word.startswith("--"):
            name, equals, value = word.partition("=")
            if name not in command.flags:
                return None
            key, takes = command.flags[name]
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
                if "-" + word[pos] not in command.flags:
                    return None
                key, takes = command.flags["-" + word[pos]]
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
    if command.argument is None:
        return values if not positional else None
    if len(positional) > 1 or (command.required and not positional):
        return None
    values[command.argument] = positional[0] if positional else None
    return values


def _set(values: dict[str, Any], key: str, value: str) -> None:
    if isinstance(values[key], list):
        values[key].append(value)
    else:
        values[key] = value
