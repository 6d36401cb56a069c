"""Errors a user can act on; the CLI prints them as one line and exits non-zero."""


class BilgeError(Exception):
    """A failure with a message meant for the person at the terminal; `exit_code` is the exit
    status the CLI ends with (1 unless the failure carries its own: a command's, a runtime's)."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class NotFound(BilgeError):
    """A named image, tag, layer or container does not exist."""


class Conflict(BilgeError):
    """The request clashes with the store's state (an image in use, a name taken)."""


class StoreLost(BilgeError):
    """The store has content but its database is gone: refused, never treated as empty."""


class InvalidInput(BilgeError):
    """Input (an archive, a layer, a reference) is malformed or hostile."""


class DigestMismatch(InvalidInput):
    """Content does not hash to the digest that names it."""


class Truncated(InvalidInput):
    """A compressed stream ends before its end: the file was cut short."""
