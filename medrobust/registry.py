"""Named registries of plugin-provided objects, with clear errors."""

from __future__ import annotations

from typing import Generic, Iterator, Mapping, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "UnknownNameError", "DuplicateNameError", "PluginError"]


class PluginError(Exception):
    """Base class of plugin registration and lookup errors."""


class UnknownNameError(PluginError, KeyError):
    """A name that no plugin registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateNameError(PluginError):
    """Two plugins registered the same name."""


class Registry(Mapping[str, T], Generic[T]):
    """Objects of one kind by name, remembering which plugin provided each."""

    def __init__(self, kind: str, singular: str) -> None:
        self.kind = kind
        self.singular = singular
        self._items: dict[str, tuple[T, str]] = {}

    def add(self, name: str, obj: T, plugin: str) -> None:
        """Register ``obj`` under ``name`` on behalf of ``plugin``."""
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r} registered a {self.singular} with an invalid name {name!r}")
        if name in self._items:
            other = self._items[name][1]
            raise DuplicateNameError(
                f"{self.singular} {name!r} is registered twice: by plugin {other!r} and by plugin "
                f"{plugin!r}; uninstall one of them or rename its {self.singular}")
        self._items[name] = (obj, plugin)

    def provider(self, name: str) -> str:
        """The plugin that registered ``name``."""
        self[name]
        return self._items[name][1]

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name][0]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise UnknownNameError(
                f"unknown {self.singular} {name!r}; registered {self.kind}: {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def providers(self) -> dict[str, str]:
        """name -> plugin name, sorted by name."""
        return {name: self._items[name][1] for name in self}

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self)})"


