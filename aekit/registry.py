"""One name -> class table, shared by models and corruptions (timm's ``@register_model`` idea)."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes registered under a name; ``kind`` ("model", "corruption") is used in error messages."""

    def __init__(self, kind: str):
        self.kind = kind
        self._classes: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: file the class under ``name`` and set its ``name`` attribute."""

        def wrap(cls: T) -> T:
            if name in self._classes:
                raise ValueError(f"{self.kind} name {name!r} is already registered by "
                                 f"{self._classes[name].__name__}")
            cls.name = name  # type: ignore[attr-defined]  # a registered class declares no name of its own
            self._classes[name] = cls
            return cls

        return wrap

    def names(self) -> list[str]:
        return sorted(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def get(self, name: str) -> T:
        if name not in self._classes:
            raise ValueError(f"unknown {self.kind} {name!r}; registered {self.kind}s: {self.names()}")
        return self._classes[name]
