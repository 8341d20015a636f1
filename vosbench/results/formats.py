"""The text formats every analysis writes (``md``, ``csv``, ``json``) and their default decimals:
1 for markdown (for reading), 3 for CSV and JSON (so a file can serve as a regression baseline)."""

from __future__ import annotations

from typing import Callable

from vosbench.core.errors import ConfigError

Renderer = Callable[[int], str]  # decimals -> text


def render_as(fmt: str, decimals: int | None, *, md: Renderer, csv: Renderer, json: Renderer) -> str:
    """Call the renderer of ``fmt`` with ``decimals`` (or that format's default).

    Raises:
        ConfigError: an unknown format.
    """
    if fmt == "md":
        return md(1 if decimals is None else decimals)
    if fmt == "csv":
        return csv(3 if decimals is None else decimals)
    if fmt == "json":
        return json(3 if decimals is None else decimals)
    raise ConfigError(f"unknown format {fmt!r}; choose md, csv or json")
