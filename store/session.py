"""What every command shares, without typer: the front door's options, the store they name,
output, and --format's names and templates.

Both ways in use it: the typer front door (bilge/cli.py) and the side door (bilge/direct.py),
which reads the most frequent commands' flags itself, so that they start without typer and
click (~70 ms, more than `images` then does on a store of hundreds of images).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # dataclasses and typing cost ~5 ms to import, half a cached build; mypy takes this as True
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any

    from .core import Store


class Settings:
    """The front door's options (`bilge --root DIR --debug …`), handed to every command here
    rather than through the environment."""

    def __init__(self, root: Path | None = None, debug: bool = False) -> None:
        self.root, self.debug = root, debug


_current = Settings()


def use(options: Settings) -> None:
    """The options of the command line being run: each door sets them once it has read them."""
    global _current
    _current = options


def settings() -> Settings:
    return _current


def open_store(*, freeing: bool = False, create: bool = False) -> Store:
    """The store; `freeing` for commands that free space, `create` for those that add images (see Store)."""
    from .core import Store

    return Store(settings().root, freeing=freeing, create=create)


def out(text: str) -> None:
    if text:
        sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def check_format(fmt: str) -> str:
    """bilge's own format names, or a Docker Go template (parsed now, so that a bad one fails
    before any work)."""
    from .errors import InvalidInput
    from .tables import FORMATS

    if fmt in FORMATS:
        return fmt
    if is_template(fmt):
        from .gotemplate import Template

        Template(fmt)
        return fmt
    raise InvalidInput(
        f"unknown format {fmt!r} (choose from {', '.join(FORMATS)}, or a Go template such as '{{{{.ID}}}}')"
    )


def is_template(fmt: str) -> bool:
    """A Docker Go template (with or without `table`) rather than one of bilge's format names;
    told without importing store/gotemplate.py, which only a template needs."""
    return "{{" in fmt or fmt.startswith("table ")


def templated(fmt: str, rows: Sequence[dict[str, Any]], headers: Mapping[str, str] | None = None) -> bool:
    """Print `rows` through `fmt` when it is a Go template (as Docker does); False when it is one
    of bilge's own formats, for the command to render. `headers`: Docker's column name for each
    field; for a listing Docker lacks, each field's name in words (`UniqueSize` as UNIQUE SIZE)."""
    from .tables import FORMATS

    if fmt in FORMATS:
        return False
    from .gotemplate import Record, Template, header_for

    names = headers if headers is not None else {key: header_for(key) for row in rows[:1] for key in row}
    sys.stdout.write(Template(fmt).render([Record(r) for r in rows], names))
    return True


def short_id(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else image_id.removeprefix("sha256:")[:12]
