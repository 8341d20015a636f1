"""What defines a run: :class:`RunConfig` (what the command line parsed) and how its device and
protocol are resolved."""

from __future__ import annotations

import dataclasses
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
    out: str = "runs"
    save_predictions: bool = True
    batch_size: int = 4
    #: host worker processes decoding frames, writing PNGs and scoring; None = auto
    #: (vosbench.core.workers.auto_workers: the CPUs on GPU runs, 0 = in-process on CPU runs)
    workers: int | str | None = None
    #: fp32 (default; true fp32, TF32 off), tf32 (GPU), bf16 or fp16 (GPU): see propagation/precision.py
    precision: str = "fp32"
    #: protocol grid ((setting, (value, ...)), ...), see vosbench.propagation.sweep
    sweep: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: this process's part: "I/N"; None = from torchrun / a SLURM array, else the whole run
    shard: str | None = None
    #: run folder id shared by shards and resumed runs; None = new (or derived when sharded)
    run_id: str | None = None


#: RunConfig fields that do not change a run's numbers, so they are not stored in its plan
#: (a resumed or sharded run may use another device, output folder, batch size or worker count)
PER_PROCESS = ("device", "out", "batch_size", "workers", "shard", "run_id")


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The plan's ``config``: what a resumed run needs to redo the same run (JSON types)."""
    d = dataclasses.asdict(cfg)
    for key in PER_PROCESS:
        d.pop(key)
    d["sequences"] = list(cfg.sequences)
    d["sweep"] = [[k, list(v)] for k, v in cfg.sweep]
    return d


def config_from_dict(data: dict[str, Any], **per_process: Any) -> RunConfig:
    """A :class:`RunConfig` from a plan's ``config`` (and this process's own settings)."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    d = {k: v for k, v in data.items() if k in known}
    d["sequences"] = tuple(d.get("sequences", ()))
    d["sweep"] = tuple((k, tuple(v)) for k, v in d.get("sweep", ()))
    return RunConfig(**{**d, **per_process})


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; under torchrun
    (``local_rank`` given) ``auto`` and ``cuda`` mean ``cuda:LOCAL_RANK``."""
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        name = "cuda"
    if name == "cuda" and local_rank is not None and torch.cuda.is_available():
        return torch.device(f"cuda:{local_rank}")
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
