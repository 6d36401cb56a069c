"""Value objects without dataclasses: dataclasses (with inspect) and typing each take longer to
import than a build that is all cache spends on its work, so the classes a cached build uses
are plain ones over __slots__, compared and shown by their fields."""

from __future__ import annotations


class Record:
    """Equality and repr over the subclass's __slots__ (its fields, in order)."""

    __slots__: tuple[str, ...] = ()

    def fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self.fields() == other.fields()

    __hash__ = None  # type: ignore[assignment]  # fields hold lists and dicts

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({shown})"
