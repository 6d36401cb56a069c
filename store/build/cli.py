"""`bilge build` (and `image build`) as a typer command: its flags are Docker's. Most command
lines never reach it (bilge/entry.py runs them through command.py without typer); it serves
--help and answers, as click does, what command.py declines."""

from typing import Annotated, Optional

import typer


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
    from .command import run

    run(context=context, tags=tag or [], file=file, build_args=build_arg or [], no_cache=no_cache, target=target,
        labels=label or [], quiet=quiet)  # fmt: skip


def register(app: typer.Typer, image_app: typer.Typer) -> None:
    app.command()(build)
    image_app.command("build")(build)
