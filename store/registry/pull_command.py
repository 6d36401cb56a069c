"""`bilge pull` (and `image pull`), run by both doors: the typer command (store/registry/cli.py)
and the side door (bilge/direct.py), which reads its flags without typer. A pull is mostly
waiting on bytes, but its start is all imports: typer and click cost a tenth of pulling an
image that is already there."""

from ..session import open_store, out


def pull(name: str, *, platform: str | None = None, quiet: bool = False, insecure: bool = False) -> None:
    from .. import reference
    from ..oci import platforms
    from ..progress import for_terminal
    from .pull import pull as do_pull

    reference.parse(name)  # a bad name fails before the store is even opened
    wanted = platforms.parse(platform) if platform else None
    progress = for_terminal(quiet)
    try:
        pulled = do_pull(open_store(create=True), name, wanted, insecure, progress)
    finally:
        progress.close()
    ref = reference.parse(pulled.name)
    out(f"{ref.repository}:{ref.tag}" if ref.tag else f"{ref.repository}@{ref.digest}")
