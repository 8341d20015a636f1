"""Which part of a run this process does: ``--shard I/N``, torchrun or a SLURM array.

A sharded run is one run folder filled by N processes. Each process takes a deterministic,
frame-count-balanced part of the sequences (:func:`partition`), so every shard computes the same
split without talking to the others; the run folder's id is given (``--run-id``) or derived from
the settings every shard shares (:func:`derived_run_id`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vosbench.core.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    """This process's part of a run.

    Attributes:
        index: 0-based shard index.
        count: Number of shards (1 = the whole run in one process).
        launcher: Where the shard came from: ``"single"``, ``"cli"`` (``--shard``),
            ``"torchrun"`` or ``"slurm"``.
        local_rank: torchrun's ``LOCAL_RANK`` (the GPU of this process on its node).
        job: The launcher's job id (SLURM array job, torchrun rendezvous id), shared by every
            shard of one submission; part of a derived run id.
    """

    index: int = 0
    count: int = 1
    launcher: str = "single"
    local_rank: int = 0
    job: str | None = None

    @property
    def sharded(self) -> bool:
        return self.count > 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``I/N`` (0 <= I < N) as given to ``--shard``."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. --shard 0/4")
    return Shard(i, n, "cli")


def _int_env(env: Mapping[str, str], key: str, default: int | None = None) -> int:
    raw = env.get(key)
    if raw is None:
        if default is None:
            raise ConfigError(f"${key} is not set, but the launcher's other variables are")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"${key}={raw!r}: expected an integer") from None


def resolve_shard(given: str | None, env: Mapping[str, str] | None = None) -> Shard:
    """This process's shard: ``--shard`` when given, else torchrun's ``RANK``/``WORLD_SIZE``,
    else a SLURM array's ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT``, else the whole run."""
    env = os.environ if env is None else env
    if given:
        return parse_shard(given)
    if "WORLD_SIZE" in env and "RANK" in env:
        n = _int_env(env, "WORLD_SIZE")
        rank = _int_env(env, "RANK")
        if n < 1 or not 0 <= rank < n:
            raise ConfigError(f"torchrun: RANK={rank} with WORLD_SIZE={n} is not a valid rank")
        rdzv = env.get("TORCHELASTIC_RUN_ID")
        return Shard(rank, n, "torchrun", _int_env(env, "LOCAL_RANK", 0), None if rdzv in (None, "", "none") else rdzv)
    if "SLURM_ARRAY_TASK_COUNT" in env:
        n = _int_env(env, "SLURM_ARRAY_TASK_COUNT")
        task = _int_env(env, "SLURM_ARRAY_TASK_ID")
        lo = _int_env(env, "SLURM_ARRAY_TASK_MIN", 0)
        step = _int_env(env, "SLURM_ARRAY_TASK_STEP", 1)
        i, rest = divmod(task - lo, max(step, 1))
        if rest or not 0 <= i < n:
            raise ConfigError(
                f"SLURM array task {task} (min {lo}, step {step}, count {n}) does not map to a shard 0..{n - 1}; "
                "submit a contiguous array such as `sbatch --array 0-7`, or pass --shard I/N"
            )
        return Shard(i, n, "slurm", 0, env.get("SLURM_ARRAY_JOB_ID"))
    return Shard()


def partition(frame_counts: Sequence[int], count: int) -> list[list[int]]:
    """Split sequences (given by their frame counts, in dataset order) into ``count`` parts of
    nearly equal frame totals: longest first, each to the part with the fewest frames so far (ties:
    the lower part). Deterministic; every part lists its sequence indices in dataset order."""
    parts: list[list[int]] = [[] for _ in range(count)]
    load = [0] * count
    for i in sorted(range(len(frame_counts)), key=lambda k: (-frame_counts[k], k)):
        p = min(range(count), key=lambda k: (load[k], k))
        parts[p].append(i)
        load[p] += frame_counts[i]
    return [sorted(p) for p in parts]


def derived_run_id(settings: Mapping[str, object], shard: Shard) -> str:
    """A run id every shard of one run computes alike: a hash of the settings that define the
    run (and of the launcher's job id, so a new submission gets a new folder while a requeued
    or restarted one finds its own)."""
    blob = json.dumps({"settings": settings, "job": shard.job, "count": shard.count}, sort_keys=True, default=str)
    return "sharded-" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def resolved_root(data_root: str | None) -> str | None:
    """``--data-root`` as an absolute path (shards started from different folders must agree)."""
    return str(Path(data_root).expanduser().resolve()) if data_root else None
