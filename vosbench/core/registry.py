"""The two registries: models (encoders) and datasets (adapters).

Built-ins are plain :class:`~vosbench.core.specs.ModelSpec` / ``DatasetSpec`` records kept in
``vosbench.models.catalog`` and ``vosbench.datasets.catalog`` (pure data, no torch import).
Third-party plugins come in through the entry-point groups ``vosbench.models`` and
``vosbench.datasets``; an entry point names a spec object (or a zero-argument callable returning
one). Nothing heavy is imported until a model or dataset is built.

Set ``VOSBENCH_NO_PLUGINS=1`` to ignore installed third-party plugins (the test-suite does).
"""

from __future__ import annotations

import difflib
import os
import traceback
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, Generic, Iterable, TypeVar, cast

from vosbench.core.errors import DuplicatePluginError, PluginLoadError, UnknownPluginError
from vosbench.core.specs import DatasetSpec, ModelSpec, import_object

S = TypeVar("S", ModelSpec, DatasetSpec)

BUILTIN = "built-in"


@dataclass(frozen=True)
class Entry(Generic[S]):
    """A registered spec and where it came from (``"built-in"`` or ``"plugin: <dist> <version>"``)."""

    spec: S
    source: str


@dataclass(frozen=True)
class BrokenPlugin:
    """A third-party entry point that failed to load; kept so listings can show it."""

    name: str
    source: str
    error: str


class Registry(Generic[S]):
    """A flat name -> spec map with lazily discovered entry-point plugins."""

    def __init__(
        self,
        kind: str,
        group: str,
        spec_type: type[S],
        builtins: str | Callable[[], Iterable[S]],
        by_prefix: dict[str, str] | None = None,
    ):
        self.kind = kind
        #: name prefix -> ``"module:attr"`` of ``fn(name) -> spec`` for names made on demand (``timm:...``)
        self._by_prefix = dict(by_prefix or {})
        self.group = group
        self._spec_type: type[S] = spec_type
        self._builtins: str | Callable[[], Iterable[S]] = builtins
        self._entries: dict[str, Entry[S]] = {}
        self._broken: dict[str, BrokenPlugin] = {}
        self._loaded = False

    # -- loading -------------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        found = import_object(self._builtins) if isinstance(self._builtins, str) else self._builtins()
        for spec in cast(Iterable[S], found):
            self._add(spec, BUILTIN)
        if os.environ.get("VOSBENCH_NO_PLUGINS", "") not in ("", "0"):
            return
        for ep in metadata.entry_points(group=self.group):
            self._load_entry_point(ep)

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        source = f"plugin: {dist.name} {dist.version}" if dist is not None else f"plugin: {ep.value}"
        try:
            obj = ep.load()
            spec = obj if isinstance(obj, self._spec_type) else obj()
            if not isinstance(spec, self._spec_type):
                raise TypeError(
                    f"entry point {ep.name!r} = {ep.value!r} must name a {self._spec_type.__name__} "
                    f"(or a callable returning one), got {type(spec).__name__}"
                )
        except Exception:  # noqa: BLE001 - a broken plugin must not hide the others
            self._broken[ep.name] = BrokenPlugin(ep.name, source, traceback.format_exc())
            return
        self._add(spec, source)

    def _add(self, spec: S, source: str) -> None:
        if spec.name in self._entries:
            other = self._entries[spec.name].source
            raise DuplicatePluginError(
                f"{self.kind} name {spec.name!r} is registered twice ({other} and {source}); "
                f"rename one of them or uninstall the conflicting plugin package."
            )
        self._entries[spec.name] = Entry(spec, source)

    # -- public --------------------------------------------------------------------------------
    def register(self, spec: S, source: str = "registered at run time") -> S:
        """Register a spec (used by tests and by code that builds models in-process)."""
        self._ensure_loaded()
        if not isinstance(spec, self._spec_type):
            raise TypeError(f"expected a {self._spec_type.__name__}, got {type(spec).__name__}")
        self._add(spec, source)
        return spec

    def unregister(self, name: str) -> None:
        self._ensure_loaded()
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def entries(self) -> list[Entry[S]]:
        self._ensure_loaded()
        return [self._entries[n] for n in sorted(self._entries)]

    def broken(self) -> list[BrokenPlugin]:
        self._ensure_loaded()
        return [self._broken[n] for n in sorted(self._broken)]

    def source(self, name: str) -> str:
        self._ensure_loaded()
        return self._entries[name].source if name in self._entries else ""

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def get(self, name: str) -> S:
        """Return the spec registered under ``name`` or raise a helpful error."""
        self._ensure_loaded()
        if name in self._entries:
            return self._entries[name].spec
        for prefix, maker in self._by_prefix.items():
            if name.startswith(prefix):
                spec = cast(Callable[[str], S], import_object(maker))(name)
                self._add(spec, f"{prefix} {name[len(prefix):]}")
                return spec
        if name in self._broken:
            b = self._broken[name]
            raise PluginLoadError(f"{self.kind} plugin {name!r} ({b.source}) failed to load:\n{b.error}")
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownPluginError(
            f"Unknown {self.kind} {name!r}.{hint} Available {self.kind}s: {', '.join(self.names())}. "
            f"(`vosbench list {self.kind}s` describes them.)"
        )


#: The built-in catalogs are registered by name, the way entry points name plugins: core/ declares
#: the contract and never imports the packages that fulfil it.
models: Registry[ModelSpec] = Registry(
    "model",
    "vosbench.models",
    ModelSpec,
    "vosbench.models.catalog:BUILTIN_MODELS",
    by_prefix={"timm:": "vosbench.models.hub:timm_spec", "hf:": "vosbench.models.hub:hf_spec"},
)
datasets: Registry[DatasetSpec] = Registry(
    "dataset", "vosbench.datasets", DatasetSpec, "vosbench.datasets.catalog:BUILTIN_DATASETS"
)
