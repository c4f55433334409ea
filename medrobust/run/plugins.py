"""The one plugin manager and its registries: built-ins and third parties load the same way."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, Generic, Iterable, Iterator, Mapping, TypeVar

import pluggy

from .. import hookspecs
from ..errors import DuplicateNameError, PluginError, UnknownNameError
from .calibrator_chain import SEPARATOR, resolve_chain

T = TypeVar("T")

LOG = logging.getLogger("medrobust.plugins")

__all__ = ["Registry", "PluginHost", "load_plugins", "KINDS", "activate", "deactivate", "active_host",
           "plugin_arguments", "loaded_plugins"]

# (registry attribute, hook name, singular noun)
KINDS = (
    ("models", "medrobust_register_models", "model"),
    ("calibrators", "medrobust_register_calibrators", "calibrator"),
    ("noises", "medrobust_register_noises", "noise"),
    ("datasets", "medrobust_register_datasets", "dataset"),
    ("metrics", "medrobust_register_metrics", "metric"),
)


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


class CalibratorRegistry(Registry[Any]):
    """The calibrators: a registered name, or a chain of them, ``spell-correct+median-denoise``
    (:mod:`medrobust.run.calibrator_chain`), resolved when it is looked up."""

    def __getitem__(self, name: str) -> Any:
        if isinstance(name, str) and SEPARATOR in name and name not in self._items:
            return resolve_chain(name, super().__getitem__, list(self._items))
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except (KeyError, ValueError):
            return False
        return True

    def provider(self, name: str) -> str:
        """The plugin that registered ``name``; for a chain, its members' plugins joined by ``+``."""
        if isinstance(name, str) and SEPARATOR in name and name not in self._items:
            return SEPARATOR.join(super(CalibratorRegistry, self).provider(m) for m in self[name].members)
        return super().provider(name)


@dataclasses.dataclass
class PluginHost:
    """The plugin manager and the registries it filled."""

    pm: pluggy.PluginManager
    models: Registry[Any]
    calibrators: Registry[Any]
    noises: Registry[Any]
    datasets: Registry[Any]
    metrics: Registry[Any]

    def registry(self, kind: str) -> Registry[Any]:
        """The registry for ``kind`` ("models", "noises", ...)."""
        return getattr(self, kind)

    def plugin_versions(self) -> dict[str, str]:
        """Plugin name -> distribution version, for the certificate."""
        versions = {}
        for plugin, dist in self.pm.list_plugin_distinfo():
            versions[self.pm.get_name(plugin) or repr(plugin)] = f"{dist.project_name} {dist.version}"
        return versions


def load_plugins(extra: Iterable[Any] = (), entry_points: bool = True) -> PluginHost:
    """Build the plugin manager and fill the registries.

    Args:
        extra: Plugin objects (modules, instances) to register besides the
            entry points, e.g. a ``conftest.py`` implementing medrobust hooks.
        entry_points: Load the ``medrobust`` entry-point group (built-ins and
            installed third-party plugins).
    """
    pm = pluggy.PluginManager("medrobust")
    pm.add_hookspecs(hookspecs)
    if entry_points:
        pm.load_setuptools_entrypoints("medrobust")
    for plugin in extra:
        if not pm.is_registered(plugin):
            pm.register(plugin)
    pm.check_pending()
    registries = {}
    for attr, hook_name, singular in KINDS:
        registry: Registry[Any] = (CalibratorRegistry if attr == "calibrators" else Registry)(attr, singular)
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            def register(name: str, obj: Any, _plugin: str = impl.plugin_name) -> None:
                registry.add(name, obj, _plugin)
            try:
                impl.function(register)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: "
                                  f"{type(exc).__name__}: {exc}") from exc
        registries[attr] = registry
    host = PluginHost(pm=pm, **registries)
    LOG.info("%s", loaded_plugins(host))
    return host


def loaded_plugins(host: PluginHost) -> str:
    """One line naming the plugins loaded and what they registered (for the ``medrobust.plugins`` log)."""
    names = sorted(name for name, _ in host.pm.list_name_plugin() if name)
    return (f"plugins loaded: {', '.join(names) or 'none'}; "
            + ", ".join(f"{len(host.registry(attr))} {attr}" for attr, _, _ in KINDS))


def plugin_arguments(host: PluginHost, used: Iterable[tuple[str, str]]) -> list[str]:
    """The ``--plugin`` words that load, outside pytest, the plugins that registered ``used``.

    Args:
        host: The run's plugin host.
        used: (registry, name) pairs, e.g. ``("models", "my-model")``.

    Returns:
        ``["--plugin", WHERE, ...]`` for each plugin that is neither installed (an entry point) nor
        built in: a conftest or other plugin file by its path (relative to the working folder when it
        lies inside it), a module named with ``pytest -p`` by its module name.
    """
    installed = {id(plugin) for plugin, _ in host.pm.list_plugin_distinfo()}
    words: list[str] = []
    used = [(kind, member) for kind, name in used
            for member in (name.split(SEPARATOR) if kind == "calibrators" and isinstance(name, str) else [name])]
    for kind, name in used:
        try:
            provider = host.registry(kind).provider(name)
        except (KeyError, AttributeError):
            continue
        plugin = host.pm.get_plugin(provider)
        module = getattr(plugin, "__name__", None)
        if plugin is None or id(plugin) in installed or not isinstance(module, str) or module.startswith("medrobust."):
            continue
        file = getattr(plugin, "__file__", None)
        # a conftest, or a file loaded by ``--plugin FILE.py`` (medrobust.certificate.replay names it so)
        if file and (module.rpartition(".")[2] == "conftest" or module.startswith("medrobust_plugin_")):
            path = Path(file).resolve()
            here = Path.cwd().resolve()
            where = os.path.relpath(path, here) if path.is_relative_to(here) else str(path)
        else:
            where = module
        if where not in words:
            words += ["--plugin", where]
    return words


_active: list[PluginHost] = []


def activate(host: PluginHost) -> None:
    """Make ``host`` the one strategies resolve noise names against (the pytest plugin does this)."""
    _active[:] = [host]


def deactivate() -> None:
    """Forget the active host."""
    _active.clear()


def active_host() -> PluginHost:
    """The host of the running session, or the installed plugins when none is active."""
    if not _active:
        _active.append(load_plugins())
    return _active[0]
