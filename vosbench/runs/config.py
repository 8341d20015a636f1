"""What defines a run: :class:`RunConfig` (what the command line parsed) and how its device and
protocol are resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from vosbench.core.errors import ConfigError
from vosbench.core.specs import DatasetSpec, ModelSpec
from vosbench.propagation.protocol import Protocol, get_protocol


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run (what the CLI parsed)."""

    model: str = "lab"
    dataset: str = "synthetic-davis"
    checkpoint: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    sequences: tuple[str, ...] = ()
    protocol: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    out: str = "results/runs"
    save_predictions: bool = True
    batch_size: int = 4
    #: fp32 (default; true fp32, TF32 off), tf32 (GPU), bf16 or fp16 (GPU): see propagation/precision.py
    precision: str = "fp32"
    #: protocol grid ((setting, (value, ...)), ...), see vosbench.propagation.sweep
    sweep: tuple[tuple[str, tuple[str, ...]], ...] = ()


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N")
    return torch.device(name)


def resolve_protocol(cfg: RunConfig, model_spec: ModelSpec, dataset_spec: DatasetSpec) -> Protocol:
    """``--protocol`` (default: the dataset's preset, else ``crw``; ``native``: the model's) with
    the run's overrides applied."""
    name = cfg.protocol
    if name in (None, ""):
        name = dataset_spec.protocol or "crw"
    elif name == "native":
        name = model_spec.native_protocol
    return get_protocol(name, **cfg.overrides)
