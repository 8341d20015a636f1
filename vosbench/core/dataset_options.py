"""Typed ``--dataset-option KEY=VALUE`` values.

Each built-in :class:`~vosbench.core.specs.DatasetSpec` declares the options its adapter
accepts and their types in ``option_types``; command-line values arrive as text and are parsed
here, so ``all_frames=false`` is ``False`` (not the truthy string ``"false"``) and ``frames=8`` is
the integer 8. Unknown keys are refused with the list of known ones. A plugin spec that declares
nothing (``option_types=None``) gets its options unchanged, as before.

Types: ``bool`` (true/false, 1/0, yes/no, on/off), ``int``, ``str``, ``path`` (a file or folder;
``~`` expanded) and ``size`` (``WIDTHxHEIGHT``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vosbench.core.errors import ConfigError

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def _parse(name: str, key: str, kind: str, value: Any) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"--dataset-option {key}={value!r} for dataset {name}: expected {expected}")

    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise bad("a boolean (true/false, 1/0, yes/no, on/off)")
    if kind == "int":
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad("an integer") from None
    if kind == "size":
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return tuple(value)
        w, sep, h = str(value).strip().lower().partition("x")
        try:
            if not sep:
                raise ValueError
            return (int(w), int(h))
        except ValueError:
            raise bad("WIDTHxHEIGHT, e.g. 432x240") from None
    if kind == "path":
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise bad("a file or folder path")
        return str(Path(str(value).strip()).expanduser())
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise bad("a non-empty text value")
        return value
    raise ConfigError(f"dataset {name}: option {key} declares unknown type {kind!r}")  # a spec bug


def parse_dataset_options(spec: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Check the keys of ``options`` against ``spec.option_types`` and parse their values.

    Raises:
        ConfigError: an unknown key (the message lists the known ones) or a value of the wrong type.
    """
    types: dict[str, str] | None = getattr(spec, "option_types", None)
    if types is None:
        return dict(options)
    unknown = sorted(k for k in options if k not in types)
    if unknown:
        known = ", ".join(f"{k} ({t})" for k, t in sorted(types.items())) or "none"
        raise ConfigError(
            f"--dataset-option {', '.join(unknown)}: unknown option for dataset {spec.name}; known options: {known}"
        )
    return {k: _parse(spec.name, k, types[k], v) for k, v in options.items()}
