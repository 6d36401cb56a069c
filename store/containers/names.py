"""Container identity as Docker hands it out: 64 random hex digits and an adjective_surname name.

Names are what people type (`bilge stop busybox`), so a name given with --name must follow
Docker's rule, and a generated one must be free; the database's unique index is the final
word when two creates race.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import InvalidInput

_VALID = re.compile(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+")

_ADJECTIVES = (
    "admiring",
    "amazing",
    "bold",
    "brave",
    "busy",
    "calm",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "ecstatic",
    "elegant",
    "epic",
    "festive",
    "friendly",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "nice",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "sweet",
    "tender",
    "trusting",
    "upbeat",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
)
_SURNAMES = (
    "albattani",
    "babbage",
    "bardeen",
    "bell",
    "bohr",
    "cerf",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "gauss",
    "goldberg",
    "hamilton",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "mccarthy",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "pike",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "yalow",
)


def new_id() -> str:
    import secrets  # only a new container needs randomness

    return secrets.token_hex(32)


def check_name(name: str) -> str:
    """The name without Docker's leading slash, or a clear refusal."""
    if not _VALID.fullmatch(name):
        raise InvalidInput(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.removeprefix("/")


def random_name(taken: Callable[[str], bool]) -> str:
    """adjective_surname, with a digit appended (as Docker does) while the plain one is taken."""
    import secrets

    base = f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_SURNAMES)}"
    name, suffix = base, 0
    while taken(name):
        suffix += 1
        name = f"{base}{suffix}"
    return name
