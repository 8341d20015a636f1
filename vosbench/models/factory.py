"""Turning a registered model name into a built encoder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vosbench.core.errors import ConfigError, PluginLoadError
from vosbench.core.registry import models
from vosbench.core.specs import resolve
from vosbench.models.base import Encoder


def create_model(name: str, checkpoint: str | os.PathLike[str] | None = None, **options: Any) -> Encoder:
    """See :func:`vosbench.create_model`."""
    spec = models.get(name)
    if spec.checkpoint == "required" and checkpoint is None:
        from vosbench.models.weights import gated

        # files behind a licence gate have no address to fetch: the description says where to ask
        where = "; ".join(f"{w.name}: {w.url}" for w in spec.weights if not gated(w))
        how = f"Official files: {where}. `vosbench weights download NAME` fetches one." if where else spec.description
        raise ConfigError(f"model {name!r} needs --checkpoint (random weights would be meaningless). {how}")
    ckpt = resolve_checkpoint(checkpoint) if checkpoint is not None else None
    try:
        factory = resolve(spec.factory)
    except Exception as e:  # noqa: BLE001
        raise PluginLoadError(f"model {name!r}: cannot import its factory {spec.factory!r}: {e}") from e
    model = factory(spec, checkpoint=ckpt, **options)
    if not isinstance(model, Encoder):
        raise PluginLoadError(
            f"model {name!r}: factory {spec.factory!r} returned {type(model).__name__}; it must return a "
            f"vosbench.models.base.Encoder (subclass it and implement forward_features)"
        )
    if model.checkpoint_path is None and ckpt is not None:
        model.checkpoint_path = ckpt
    return model.eval()


def resolve_checkpoint(checkpoint: str | os.PathLike[str]) -> Path:
    """A path to a file, or the name of an official file in the weights cache."""
    from vosbench.models.weights import cached_weight_path

    p = Path(checkpoint).expanduser()
    if p.is_file():
        return p
    if os.sep not in str(checkpoint):
        cached = cached_weight_path(str(checkpoint))
        if cached is not None:
            return cached
    raise ConfigError(
        f"checkpoint {checkpoint!s} not found: give a file path, or the name of an official file "
        f"downloaded with `vosbench weights download NAME` (see `vosbench weights list`)"
    )
