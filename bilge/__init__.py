"""bilge: a Docker-compatible image store with an exact garbage collector and space reports."""

__version__ = "0.1.0"
