"""The container commands: create, run, start, stop, kill, rm, ps, diff, commit, and `container …`.

Only typer is imported here at module level; each command imports what it needs, so the rest
of the CLI does not pay for the runtime, psutil or the tar writer.
"""

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..cli import FilterOpt, FormatOpt
from ..session import check_format, err, open_store, out, templated

if TYPE_CHECKING:
    from ..core import Store
    from .records import Container, CreateOptions

ContainersArg = Annotated[list[str], typer.Argument(help="Containers (name, ID or ID prefix)")]
_PASS_THROUGH = {"allow_interspersed_args": False}


def _options(flags: dict[str, Any]) -> "CreateOptions":
    """CreateOptions from the flags of `run` (or `create`), named as Docker names them."""
    from .records import CreateOptions

    return CreateOptions(
        image=flags["image"],
        command=list(flags["command"] or []),
        name=flags["name"],
        env=list(flags["env"] or []),
        workdir=flags["workdir"],
        user=flags["user"],
        entrypoint=flags["entrypoint"],
        labels=list(flags["label"] or []),
        hostname=flags["hostname"],
        interactive=flags["interactive"],
        tty=flags["tty"],
        detach=flags.get("detach", False),
        auto_remove=flags["rm"],
        network=flags["network"],
        storage_driver=flags["storage_driver"],
        runtime=flags["runtime"],
    )


def _create(store: "Store", opts: "CreateOptions") -> "Container":
    """No runtime, no container: say what to install before making one; record the one found."""
    import os

    from . import runtime

    found = runtime.find(opts.runtime)
    return store.containers.create(opts, opts.runtime or os.path.basename(found))


def run(
    image: Annotated[str, typer.Argument(help="Image")],
    command: Annotated[Optional[list[str]], typer.Argument(help="Command and arguments")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Assign a name to the container")] = None,
    env: Annotated[Optional[list[str]], typer.Option("--env", "-e", help="Set environment variables")] = None,
    workdir: Annotated[
        Optional[str], typer.Option("--workdir", "-w", help="Working directory inside the container")
    ] = None,
    user: Annotated[
        Optional[str], typer.Option("--user", "-u", help="Username or UID (format: <name|uid>[:<group|gid>])")
    ] = None,
    entrypoint: Annotated[
        Optional[str], typer.Option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    ] = None,
    label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Set meta data on a container")] = None,
    hostname: Annotated[Optional[str], typer.Option("--hostname", help="Container host name")] = None,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Keep STDIN open")] = False,
    tty: Annotated[bool, typer.Option("--tty", "-t", help="Allocate a pseudo-TTY")] = False,
    rm: Annotated[bool, typer.Option("--rm", help="Automatically remove the container when it exits")] = False,
    network: Annotated[str, typer.Option("--network", help="none or host")] = "none",
    storage_driver: Annotated[
        Optional[str], typer.Option("--storage-driver", help="overlay or vfs (default: overlay where it mounts)")
    ] = None,
    runtime: Annotated[Optional[str], typer.Option("--runtime", help="OCI runtime: runc, crun or a path")] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background and print the container ID")
    ] = False,
) -> None:
    """Create and start a container; attached, bilge exits with the container's exit code."""
    from . import lifecycle

    opts = _options(locals())
    store = open_store(create=True)
    container = _create(store, opts)
    try:
        launched = lifecycle.start(store, container, attach=not detach, interactive=interactive)
    except Exception:
        if rm:
            lifecycle.remove(store, container, force=True)
        raise
    if detach:
        out(container.id)
        return
    raise typer.Exit(lifecycle.wait_attached(store, launched))


def create(**flags: Any) -> None:
    """Create a new container."""
    out(_create(open_store(create=True), _options(flags)).id)


def _same_options(command: Callable[..., None], model: Callable[..., None], drop: str) -> None:
    """Typer reads a command's options from its signature: give `command` those of `model`, less `drop`."""
    signature = inspect.signature(model, eval_str=True)
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name != drop]
    )
    command.__annotations__ = {k: v for k, v in model.__annotations__.items() if k != drop}


_same_options(create, run, drop="detach")


def start(
    containers: ContainersArg,
    attach: Annotated[bool, typer.Option("--attach", "-a", help="Attach STDOUT/STDERR and forward signals")] = False,
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Attach the container's STDIN")] = False,
) -> None:
    """Start one or more stopped containers."""
    from ..errors import InvalidInput
    from . import lifecycle

    if (attach or interactive) and len(containers) > 1:
        raise InvalidInput("you cannot start and attach multiple containers at once")
    store = open_store()
    if attach or interactive:
        launched = lifecycle.start(store, _lookup(store, containers[0]), attach=True, interactive=interactive)
        if launched.shim is not None:
            raise typer.Exit(lifecycle.wait_attached(store, launched))
        return
    _each(
        store, containers, lambda c: lifecycle.start(store, c, attach=False, interactive=c.docker_config["OpenStdin"])
    )


def stop(
    containers: ContainersArg,
    time: Annotated[float, typer.Option("--time", "-t", help="Seconds to wait before killing it")] = 10,
    signal: Annotated[
        Optional[str], typer.Option("--signal", "-s", help="Signal to send (default: the image's STOPSIGNAL or TERM)")
    ] = None,
) -> None:
    """Stop one or more running containers: the stop signal, then KILL after the timeout."""
    from . import lifecycle

    store = open_store()
    _each(store, containers, lambda c: lifecycle.stop(store, c, time, signal))


def kill(
    containers: ContainersArg,
    signal: Annotated[str, typer.Option("--signal", "-s", help="Signal to send")] = "KILL",
) -> None:
    """Kill one or more running containers."""
    from . import lifecycle

    store = open_store()
    _each(store, containers, lambda c: lifecycle.kill(store, c, signal))


def rm(
    containers: ContainersArg,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Force the removal of a running container (uses SIGKILL)")
    ] = False,
) -> None:
    """Remove one or more containers."""
    from . import lifecycle

    store = open_store()
    _each(store, containers, lambda c: lifecycle.remove(store, c, force))


def _lookup(store: "Store", ref: str) -> "Container":
    return store.containers.lookup(ref)


def _each(store: "Store", refs: list[str], action: Callable[["Container"], object]) -> None:
    """Docker's multi-container verbs: each name printed on success, each failure one line."""
    from ..errors import BilgeError

    failed = False
    for ref in refs:
        try:
            action(_lookup(store, ref))
        except BilgeError as exc:
            err(f"Error: {exc}")
            failed = True
            continue
        out(ref)
    if failed:
        raise typer.Exit(1)


def ps(
    all: Annotated[bool, typer.Option("--all", "-a", help="Show all containers (default shows just running)")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only display container IDs")] = False,
    size: Annotated[bool, typer.Option("--size", "-s", help="Display total file sizes")] = False,
    filter: FilterOpt = None,
    format: FormatOpt = "table",
    no_trunc: Annotated[bool, typer.Option("--no-trunc", help="Don't truncate output")] = False,
) -> None:
    """List containers; filters status=, label=, ancestor=, name=, id=."""
    from ..tables import render
    from . import views as view

    check_format(format)
    store = open_store()
    found = view.select(store, view.current(store), all, list(filter or []))
    if quiet:
        out("\n".join(c.id if no_trunc else c.id[:12] for c in found))
        return
    rows, data = view.ps_rows(store, found, size, no_trunc)
    if templated(format, rows, view.PS_HEADERS):
        return
    columns = [
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("Ports", "PORTS"),
        ("Names", "NAMES"),
    ] + ([("Size", "SIZE")] if size else [])
    out(render(rows, columns, format, data))


def diff(container: Annotated[str, typer.Argument(help="Container")]) -> None:
    """Inspect changes to files or directories on a container's filesystem (A added, C changed, D deleted)."""
    from .drivers import driver_for

    store = open_store()
    c = _lookup(store, container)
    out("\n".join(str(change) for change in driver_for(c.driver).changes(store, c)))


def commit(
    container: Annotated[str, typer.Argument(help="Container")],
    repository: Annotated[Optional[str], typer.Argument(help="REPOSITORY[:TAG]")] = None,
    author: Annotated[
        str, typer.Option("--author", "-a", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    ] = "",
    message: Annotated[str, typer.Option("--message", "-m", help="Commit message")] = "",
    change: Annotated[
        Optional[list[str]], typer.Option("--change", "-c", help="Apply a Dockerfile instruction to the image")
    ] = None,
    pause: Annotated[bool, typer.Option("--pause/--no-pause", "-p", help="Pause the container during commit")] = True,
) -> None:
    """Create a new image from a container's changes."""
    from .commit import commit as do_commit

    store = open_store()
    out(do_commit(store, _lookup(store, container), repository, author, message, list(change or []), pause))


def inspect_containers(
    containers: ContainersArg,
    size: Annotated[bool, typer.Option("--size", "-s", help="Display total file sizes")] = False,
) -> None:
    """Display detailed information on one or more containers, as JSON in Docker's shape."""
    import json

    from ..errors import NotFound
    from .views import inspect_named

    store = open_store()

    def described(ref: str) -> dict | None:
        try:
            return inspect_named(store, ref, size)
        except NotFound:
            return None

    found = {ref: described(ref) for ref in containers}
    out(json.dumps([shown for shown in found.values() if shown is not None], indent=4))
    missing = [ref for ref, shown in found.items() if shown is None]
    if missing:
        raise NotFound(f"No such container: {missing[0]}")


def register(app: typer.Typer, container_app: typer.Typer) -> None:
    """Docker's top-level verbs, and `container …`, its management form."""
    for passing in (create, run):
        app.command(context_settings=_PASS_THROUGH)(passing)
        container_app.command(context_settings=_PASS_THROUGH)(passing)
    verbs: tuple[Callable[..., None], ...] = (start, stop, kill, rm, ps, diff, commit)
    for fn in verbs:
        app.command()(fn)
    for name, fn in (
        ("ls", ps),
        ("start", start),
        ("stop", stop),
        ("kill", kill),
        ("rm", rm),
        ("inspect", inspect_containers),
        ("diff", diff),
        ("commit", commit),
    ):
        container_app.command(name)(fn)
