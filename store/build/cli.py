"""`bilge build` (and `image build`): its flags are Docker's."""

from typing import Annotated, Optional

import typer

from ..cli import open_store, out


def build(
    context: Annotated[str, typer.Argument(help="Build context directory")],
    tag: Annotated[
        Optional[list[str]], typer.Option("--tag", "-t", help="Name and optionally a tag (name:tag)")
    ] = None,
    file: Annotated[
        Optional[str], typer.Option("--file", "-f", help="Name of the Dockerfile (default: CONTEXT/Dockerfile)")
    ] = None,
    build_arg: Annotated[
        Optional[list[str]], typer.Option("--build-arg", help="Set build-time variables (KEY=VALUE)")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use cache when building the image")] = False,
    target: Annotated[Optional[str], typer.Option("--target", help="Set the target build stage to build")] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", help="Set metadata for an image (KEY=VALUE)")] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Suppress the build output and print image ID on success")
    ] = False,
) -> None:
    """Build an image from a Dockerfile, as Docker's classic builder does (each step an image, cached)."""
    import os
    from pathlib import Path

    from .. import reference
    from ..errors import InvalidInput
    from .builder import Builder, Options

    tags = list(tag or [])
    for name in tags:
        if reference.parse(name).digest:
            raise InvalidInput(f"invalid reference format: {name}: a tag cannot hold a digest")
    options = Options(
        context=Path(context),
        dockerfile=Path(file) if file and os.path.isabs(file) else (Path(context) / file if file else None),
        tags=tags,
        build_args=_pairs(build_arg, "--build-arg"),
        no_cache=no_cache,
        target=target,
        labels=_pairs(label, "--label"),
    )
    say = (lambda line: None) if quiet else out
    image_id = Builder(open_store(create=True), options, say).build()  # a failed RUN exits with its code
    if quiet:
        out(image_id)


def _pairs(items: list[str] | None, flag: str) -> dict[str, str]:
    """KEY=VALUE flags; a bare KEY takes its value from our environment, as Docker's do."""
    import os

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


def register(app: typer.Typer, image_app: typer.Typer) -> None:
    app.command()(build)
    image_app.command("build")(build)
