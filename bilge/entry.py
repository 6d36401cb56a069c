"""The process's way in (`bilge`, `python -m bilge`): one rule for errors, and the commands
run most straight to their work.

typer and click, with every room's commands mounted on them, take ~70 ms before a command
starts; `images` on a store of hundreds of images, or a build that is all cache, does less.
So `build`, `images`, `system df`, `load` and `pull` with their own flags are read by the side door
(bilge/direct.py) and run without them. Anything it declines (--help, a flag it does not
know, an argument too many) goes through the typer front door (bilge/cli.py), which answers
as click does. Every command fails the same way: one line on stderr (`--debug` adds the
traceback) and a non-zero exit.
"""

from __future__ import annotations

import sys


class Interrupted(BaseException):
    """Ctrl-C, raised past typer, which turns KeyboardInterrupt into a silent exit 130."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted


def main() -> None:
    import gc

    # Start-up makes tens of thousands of long-lived objects (typer, click, every command's
    # signature) and no garbage: a collection during it scans them all, ~12 ms that lands in
    # whichever module is importing. So none runs until the front door is built, which is
    # then frozen out of every later scan. A listing of 10,000 images makes a few hundred
    # thousand objects and almost no cycles: at Python's default thresholds the collector runs
    # hundreds of times over them, about 6% of `images` and `system df -v`. Collecting ten
    # times less often keeps that and still frees what a long-running command's cycles leave.
    gc.disable()
    gc.set_threshold(20_000, 20, 20)
    # bilge's HTTP is synchronous, but httpcore imports trio for its async locks whenever it is
    # installed (selenium, a test dependency, brings it): 140 ms and an `ldconfig` run at every
    # pull and push. A None in sys.modules makes that import fail, as if trio were not there.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    from bilge.direct import read
    from bilge.store.errors import BilgeError

    args = sys.argv[1:]
    settings = None  # the typer front door's options, filled in as it parses them
    side = read(args)

    def debug() -> bool:
        return side.debug if side is not None else bool(settings and settings.debug)

    # Our own ctrl-C handler, for both doors: past typer, and in place of an ignored SIGINT
    # inherited from a shell's background job, which Python leaves ignored. `_signal` is
    # `signal` without its enums (1.7 ms, a seventh of a build that is all cache).
    import _signal  # type: ignore[import-not-found]  # typeshed has no stub for the C module

    _signal.signal(_signal.SIGINT, _interrupt)
    try:
        if side is not None:
            gc.enable()
            side.run()
            _done()
            return
        from bilge.cli import command_for
        from bilge.store.session import Settings

        settings = Settings()
        command = command_for(args)
        gc.freeze()
        gc.enable()
        command(prog_name="bilge", obj=settings)
    except BilgeError as exc:
        _fail(str(exc), exc.exit_code, debug())
    except (Interrupted, KeyboardInterrupt):
        _fail("interrupted", 130, debug())
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", 1, debug())
    except Exception as exc:
        _fail(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1, debug())


def _done() -> None:
    """End a side-door command that succeeded without the interpreter's teardown (~6 ms of
    freeing modules one by one, a tenth of a build that is all cache; more after a listing of
    thousands of images): everything it wrote is committed, its lease's thread joined, its
    database connections closed (store/db.py's Database closes its own); only our own output
    is still buffered. A thread still at work (none is, today) would get the
    interpreter's usual wait instead."""
    import os

    threading = sys.modules.get("threading")
    if threading and any(
        t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()
    ):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _fail(message: str, code: int, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(code)
