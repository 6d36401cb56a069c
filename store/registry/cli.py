"""The registry's commands: pull, push, login, logout.

Like store/cli.py, only typer is imported at module level: httpx and the registry client
load when one of these commands runs, never for `bilge df` and friends.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..session import err, open_store, out

InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Allow plain HTTP and unverified TLS for this registry")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the image reference")]


def pull(
    name: Annotated[str, typer.Argument(help="NAME[:TAG|@DIGEST]")],
    platform: Annotated[
        Optional[str], typer.Option("--platform", help="os/arch[/variant] (default: this host's)")
    ] = None,
    quiet: QuietOpt = False,
    insecure: InsecureOpt = False,
) -> None:
    """Download an image from a registry."""
    from .pull_command import pull as run

    run(name=name, platform=platform, quiet=quiet, insecure=insecure)


def push(
    name: Annotated[str, typer.Argument(help="NAME[:TAG]")],
    all_tags: Annotated[bool, typer.Option("--all-tags", "-a", help="Push every tag of the repository")] = False,
    quiet: QuietOpt = False,
    insecure: InsecureOpt = False,
) -> None:
    """Upload an image (or, with -a, every tagged image of a repository) to a registry."""
    from .. import reference
    from ..errors import InvalidInput, NotFound
    from ..progress import for_terminal
    from .push import push as do_push

    ref = reference.parse(name)
    store = open_store()
    names = [name]
    if all_tags:
        if ref.digest or ":" in name.rsplit("/", 1)[-1]:
            raise InvalidInput("tag can't be used with --all-tags/-a")
        names = [f"{ref.repository}:{tag}" for tag in store.images.tags_of(ref.repository)]
        if not names:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar}")
    progress = for_terminal(quiet)
    try:
        for one in names:
            pushed = do_push(store, one, insecure, progress)
            out(
                f"{reference.parse(pushed.name).repository}:{pushed.tag}"
                if quiet
                else f"{pushed.tag}: digest: {pushed.digest} size: {pushed.size}"
            )
    finally:
        progress.close()


def _server_domain(server: Optional[str]) -> str:
    """`bilge login [SERVER]`: Docker Hub by default; a URL's scheme and path are ignored."""
    from .client import HUB_DOMAINS

    if not server:
        return "docker.io"
    host = server.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in HUB_DOMAINS or host == "registry-1.docker.io" else host


def login(
    server: Annotated[Optional[str], typer.Argument(help="Registry host (default: Docker Hub)")] = None,
    username: Annotated[Optional[str], typer.Option("--username", "-u", help="Username")] = None,
    password: Annotated[
        Optional[str], typer.Option("--password", "-p", help="Password (prefer --password-stdin)")
    ] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
    insecure: InsecureOpt = False,
) -> None:
    """Log in to a registry; the credentials go to $DOCKER_CONFIG/config.json (mode 0600), or to the
    credential helper it names (credsStore, credHelpers)."""
    from ..errors import InvalidInput
    from . import auth
    from .client import Client

    domain = _server_domain(server)
    if password_stdin:
        if password is not None:
            raise InvalidInput("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.read().rstrip("\r\n")
    elif password is not None:
        err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    if username is None:
        if not sys.stdin.isatty():
            raise InvalidInput("cannot perform an interactive login from a non TTY device (use --username)")
        username = typer.prompt("Username")
    if password is None:
        if not sys.stdin.isatty():
            raise InvalidInput("cannot perform an interactive login from a non TTY device (use --password-stdin)")
        password = typer.prompt("Password", hide_input=True)
    if not username or not password:
        raise InvalidInput("username and password are required")
    creds = auth.Credentials(username, password)
    client = Client(domain, creds, insecure)
    try:
        client.login_check()
    finally:
        client.close()
    path = auth.save(domain, creds)
    err(f"Credentials saved in {path}")
    out("Login Succeeded")


def logout(
    server: Annotated[Optional[str], typer.Argument(help="Registry host (default: Docker Hub)")] = None,
) -> None:
    """Forget the credentials stored for a registry."""
    from . import auth

    domain = _server_domain(server)
    key = auth.server_key(domain)
    if auth.remove(domain):
        out(f"Removing login credentials for {key}")
    else:
        err(f"Not logged in to {key}")


def register(app: typer.Typer, image_app: typer.Typer) -> None:
    """Docker's top-level verbs, and pull/push under `image` too."""
    for fn in (pull, push, login, logout):
        app.command()(fn)
    for fn in (pull, push):
        image_app.command()(fn)
