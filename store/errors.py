"""Errors a user can act on; the CLI prints them as one line and exits non-zero."""


class BilgeError(Exception):
    """A failure with a message meant for the person at the terminal."""

    exit_code = 1


class NotFound(BilgeError):
    """A named image, tag, layer or container does not exist."""


class Conflict(BilgeError):
    """The request clashes with the store's state (an image in use, a name taken)."""


class InvalidInput(BilgeError):
    """Input (an archive, a layer, a reference) is malformed or hostile."""


class DigestMismatch(InvalidInput):
    """Content does not hash to the digest that names it."""
