"""What defines a run: :class:`RunConfig` (what the command line parsed) and how its device and
protocol are resolved."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vosbench.core.errors import ConfigError
from vosbench.core.names import comma_list
from vosbench.core.safepath import name_problem
from vosbench.core.specs import DatasetSpec, ModelSpec
from vosbench.propagation.protocol import Protocol, get_protocol
from vosbench.propagation.sweep import Candidates, Sweep, check_grid_size, parse_candidates, parse_sweep
from vosbench.runs.shards import parse_shard

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
#: ``--batch-size`` range (frames per encoder batch)
MAX_BATCH = 256
#: ``--workers``: at most this many host worker processes
MAX_WORKERS = 1024
#: ``--shard I/N``: at most this many shards (a run has at most as many sequences)
MAX_SHARDS = 100_000
#: a run id leaves room for a sweep's ``-p<index>`` suffix in a 255-byte folder name
MAX_RUN_ID_BYTES = 200


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
    #: an explicit list of grid points instead of the product ``sweep`` (vosbench tune --candidates)
    candidates: Candidates = ()
    #: this process's part: "I/N"; None = from torchrun / a SLURM array, else the whole run
    shard: str | None = None
    #: run folder id shared by shards and resumed runs; None = new (or derived when sharded)
    run_id: str | None = None


    @classmethod
    def from_options(
        cls,
        *,
        model: str = "lab",
        dataset: str = "synthetic-davis",
        checkpoint: str | os.PathLike[str] | None = None,
        model_options: Mapping[str, Any] | None = None,
        data_root: str | os.PathLike[str] | None = None,
        dataset_options: Mapping[str, Any] | None = None,
        sequences: str | Iterable[str] | None = None,
        protocol: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        device: str = "auto",
        out: str | os.PathLike[str] = "runs",
        save_predictions: bool = True,
        batch_size: int = 4,
        workers: int | str | None = None,
        precision: str = "fp32",
        sweep: Sweep | Mapping[str, Any] | None = None,
        candidates: Candidates | str | Iterable[Mapping[str, Any]] | None = None,
        shard: str | None = None,
        run_id: str | None = None,
        large_grid: bool = False,
        where: str = "",
    ) -> RunConfig:
        """The one way a run's options (from the command line, a config file, a replayed record or
        the Python API) become a :class:`RunConfig`: every value typed and range-checked, so a bad
        one stops the run with one line before any folder is made.

        ``sequences`` may be a comma-separated string, ``sweep`` a table ``{setting: [values]}``,
        ``candidates`` a list of tables ``[{setting: value}, ...]`` or a string ``"k=v,k=v;k=v,k=v"``,
        paths :class:`os.PathLike`; ``where`` (a file, ``--config FILE``) starts every message.
        A grid over :data:`~vosbench.propagation.sweep.MAX_GRID_POINTS` points needs ``large_grid``.
        """
        at = f"{where}: " if where else ""
        for key, value in (("model", model), ("dataset", dataset), ("device", device), ("precision", precision)):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{at}{key!r} must be a non-empty string, got {value!r}")
        paths = {k: _path(k, v, at) for k, v in (("checkpoint", checkpoint), ("data_root", data_root), ("out", out))}
        if paths["out"] is None:
            raise ConfigError(f"{at}'out' must be a folder, got None")
        if protocol is not None and not isinstance(protocol, str):
            raise ConfigError(f"{at}'protocol' must be a preset name, got {protocol!r}")
        cfg = cls(
            model=model,
            dataset=dataset,
            checkpoint=paths["checkpoint"],
            model_options=_table("model_options", model_options, at),
            data_root=paths["data_root"],
            dataset_options=_table("dataset_options", dataset_options, at),
            sequences=_sequences(sequences, at),
            protocol=protocol,
            overrides=_table("overrides", overrides, at),
            device=device,
            out=paths["out"],
            save_predictions=_flag("save_predictions", save_predictions, at),
            batch_size=_count("batch_size", batch_size, at, 1, MAX_BATCH),
            workers=_workers(workers, at),
            precision=precision,
            sweep=_sweep(sweep, at),
            candidates=_candidates(candidates, at),
            shard=shard,
            run_id=run_id,
        )
        check_values(cfg, at, large_grid)
        return cfg


def _path(key: str, value: object, at: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ConfigError(f"{at}{key!r} must be a path (a string), got {value!r}")


def _table(key: str, value: object, at: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{at}{key!r} must be a table of KEY = VALUE settings, got {value!r}")
    return dict(value)


def _flag(key: str, value: object, at: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{at}{key!r} must be true or false, got {value!r}")
    return value


def _count(key: str, value: object, at: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{at}{key!r} must be an integer from {lo} to {hi}, got {value!r}")
    return value


def _workers(value: object, at: str) -> int | None:
    """``auto`` (None) or a number of worker processes."""
    if value is None or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{at}'workers' must be \"auto\" or a number of processes (0 = none), got {value!r}")
    if not 0 <= value <= MAX_WORKERS:
        raise ConfigError(f"{at}workers={value!r}: expected \"auto\" or a number of processes (0 = none, at most {MAX_WORKERS})")
    return value


def _sequences(value: object, at: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(comma_list(value))
    if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise ConfigError(f"{at}'sequences' must be a list of names or a comma-separated string, got {value!r}")


def _sweep(value: object, at: str) -> Sweep:
    """A parsed sweep as it is, or a table ``{setting: value or [values]}`` parsed."""
    if value is None:
        return ()
    if isinstance(value, tuple):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{at}'sweep' must be a table ([sweep] with SETTING = [V1, V2] lines), got {value!r}")
    items = []
    for k, v in value.items():
        vals = v if isinstance(v, (list, tuple)) else [v]
        text = ",".join(_text(x) for x in vals)
        items.append(f"{str(k).strip().replace('-', '_')}={text}")
    return parse_sweep(items)


def _text(value: object) -> str:
    """A TOML / Python setting value as the text a sweep spells it in (``none``, ``true``)."""
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _candidates(value: object, at: str) -> Candidates:
    """Parsed candidates as they are (``()``: none), a string ``k=v,k=v;k=v``, or a list of tables
    ``{setting: value}`` (an empty list is refused)."""
    if value is None or value == ():
        return ()
    if isinstance(value, str):
        return parse_candidates([value])
    if isinstance(value, (list, tuple)) and all(isinstance(c, Mapping) for c in value):
        items = [",".join(f"{str(k).strip()}={_text(v)}" for k, v in c.items()) for c in value]
        return parse_candidates([";".join(items)])
    if isinstance(value, tuple):
        return value
    raise ConfigError(f"{at}'candidates' must be a list of tables ([[candidates]] with SETTING = VALUE lines), got {value!r}")


def check_run_id(run_id: str, at: str = "") -> None:
    """A run id is one plain folder name (no control characters), short enough for a sweep's
    ``-p<index>`` suffix."""
    problem = name_problem(run_id) if isinstance(run_id, str) else f"not a string ({type(run_id).__name__})"
    if problem is None and run_id.startswith("."):
        problem = "starts with '.'"
    if problem is None and len(run_id.encode("utf-8")) > MAX_RUN_ID_BYTES:
        problem = f"longer than {MAX_RUN_ID_BYTES} bytes"
    if problem:
        raise ConfigError(f"{at}--run-id {run_id!r}: expected a plain folder name (no '/', not starting with '.'): {problem}")


def check_values(cfg: RunConfig, at: str = "", large_grid: bool = False) -> None:
    """Range checks of a :class:`RunConfig`'s values that need no registry or data."""
    if cfg.precision not in PRECISIONS:
        raise ConfigError(f"{at}'precision' must be one of {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if cfg.shard is not None:
        if not isinstance(cfg.shard, str):
            raise ConfigError(f"{at}'shard' must be a string \"I/N\" (e.g. \"0/4\"), got {cfg.shard!r}")
        if parse_shard(cfg.shard).count > MAX_SHARDS:
            raise ConfigError(f"{at}--shard {cfg.shard}: at most {MAX_SHARDS} shards")
    if cfg.run_id is not None:
        check_run_id(cfg.run_id, at)
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device):
        raise ConfigError(f"{at}--device {cfg.device!r}: expected auto, cpu, cuda or cuda:N")
    check_grid_size(cfg.sweep, large_grid, cfg.candidates)


def check_ready(cfg: RunConfig, dataset_spec: DatasetSpec, launcher: str, env: Mapping[str, str] | None = None) -> None:
    """What a run needs, checked before any folder is made: the values of ``cfg`` (also when it
    was built without :meth:`RunConfig.from_options`), a given ``--data-root`` of a generated set
    that exists (dataset folders are only read; generated sets are made in the vosbench cache or
    by ``vosbench data synth``), and a torchrun launch's rendezvous address."""
    check_values(cfg, large_grid=True)
    env = os.environ if env is None else env
    if dataset_spec.generated and cfg.data_root is not None and not Path(cfg.data_root).expanduser().exists():
        raise ConfigError(
            f"--data-root {cfg.data_root}: no such folder. Dataset folders are only read; leave out --data-root to "
            f"use the generated copy in the vosbench cache, or make one with `vosbench data synth`"
        )
    if launcher == "torchrun":
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
        if missing:
            raise ConfigError(
                f"RANK and WORLD_SIZE are set but {' and '.join('$' + k for k in missing)} not: launch with torchrun "
                f"(which sets them all), or pass --shard I/N"
            )


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
    d.pop("candidates")
    if cfg.candidates:  # only then: plans and derived ids of other runs stay as they were
        d["candidates"] = [[list(pair) for pair in c] for c in cfg.candidates]
    return d


def config_from_dict(data: dict[str, Any], **per_process: Any) -> RunConfig:
    """A :class:`RunConfig` from a plan's ``config`` (and this process's own settings)."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    d = {k: v for k, v in data.items() if k in known}
    d["sequences"] = tuple(d.get("sequences", ()))
    d["sweep"] = tuple((k, tuple(v)) for k, v in d.get("sweep", ()))
    d["candidates"] = tuple(tuple((k, v) for k, v in c) for c in d.get("candidates", ()))
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
    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise ConfigError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device is available (torch.cuda.is_available() is False)")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0")
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
