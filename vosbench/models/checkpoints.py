"""Loading checkpoint files strictly, with errors that say what went wrong.

``torch.load`` is always called with ``weights_only=True``: checkpoints are data, not code.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vosbench.harness.errors import CheckpointError


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def load_checkpoint_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` a checkpoint on the CPU with ``weights_only=True``."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} not found")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types here
        raise CheckpointError(f"cannot load checkpoint {p}: {e}") from None


def strip_prefix(state: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Remove any of ``prefixes`` (repeatedly, e.g. ``module.backbone.``) from every key."""
    out = {}
    for k, v in state.items():
        changed = True
        while changed:
            changed = False
            for p in prefixes:
                if k.startswith(p):
                    k = k[len(p) :]
                    changed = True
        out[k] = v
    return out


def load_strict(
    module: nn.Module,
    state: Mapping[str, Any],
    *,
    source: str,
    ignore: tuple[str, ...] = ("num_batches_tracked",),
    drop_prefixes: tuple[str, ...] = (),
    hint: str = "",
) -> None:
    """Load ``state`` into ``module``; refuse on any missing, unexpected or mis-shaped key.

    Args:
        module: Target module.
        state: State dict (already un-prefixed).
        source: File name for messages.
        ignore: Key suffixes that may be missing or extra (``num_batches_tracked``).
        drop_prefixes: Keys starting with these are expected extras (a removed layer, a head)
            and are dropped silently.
        hint: Extra advice appended to the error.
    """
    own = module.state_dict()
    state = {k: v for k, v in state.items() if not any(k.startswith(p) for p in drop_prefixes)}
    missing = [k for k in own if k not in state and not k.endswith(ignore)]
    unexpected = [k for k in state if k not in own and not k.endswith(ignore)]
    misshaped = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or misshaped:
        lines = [f"checkpoint {source} does not match the model:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
                lines.append(f"  {title} keys: {shown}")
        causes = []
        if any(k.startswith("module.") for k in unexpected):
            causes.append("keys carry the 'module.' prefix of nn.DataParallel")
        if unexpected and not missing:
            causes.append("a training checkpoint with extra heads")
        if missing and unexpected:
            causes.append("a checkpoint of a different model (check --model)")
        if causes:
            lines.append("  likely cause: " + "; or ".join(causes))
        if hint:
            lines.append("  " + hint)
        raise CheckpointError("\n".join(lines))
    to_load = {k: v for k, v in state.items() if k in own}
    module.load_state_dict(to_load, strict=False)
