"""What one process's run is about, resolved once: :class:`RunContext` and its :class:`Placement`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import torch

from vosbench.core.video import VideoSequence
from vosbench.datasets.base import VideoDataset
from vosbench.models.base import Encoder
from vosbench.propagation.protocol import Protocol
from vosbench.records.types import Settings, Tuning
from vosbench.runs.config import RunConfig
from vosbench.runs.distributed import ProcessGroup
from vosbench.runs.shards import Shard

#: progress callback: (sequence name, frames done, frames in total)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Placement:
    """Where this process's work goes: the run id (``None``: a new time-stamped one), its shard
    and the sequences it does, and the configuration stored in the plan for ``--resume``."""

    run_id: str | None
    shard: Shard
    mine: frozenset[str]
    config: Settings

    @property
    def merge_here(self) -> bool:
        """Whether this process writes the record when it finds every sequence in (under
        torchrun rank 0 does, after the barrier)."""
        return self.shard.launcher != "torchrun"

    @property
    def shard_label(self) -> str:
        return f"shard {self.shard}" if self.shard.sharded else "run"


@dataclass
class RunContext:
    """Everything the run loop (:func:`vosbench.runs.driver.drive`) and a task kind read.

    Attributes:
        cfg: The run's configuration.
        dataset: The dataset adapter.
        sequences: Every sequence of the run, in dataset order (this process does its part).
        model: The encoder, on ``device``.
        device: Where the run computes.
        protocols: One resolved protocol per grid point (one without ``--sweep``).
        points: The grid points (``[{}]`` without ``--sweep``).
        placement: This process's part of the run.
        started: ``time.perf_counter()`` at the start of the run.
        progress: Called after each frame with (sequence, frames done, frames in total).
        group: The torchrun process group (its rank 0 writes the record), else ``None``.
        tuning: How ``vosbench tune`` chose this run's settings (the record's ``tuning``), else ``None``.
    """

    cfg: RunConfig
    dataset: VideoDataset
    sequences: list[VideoSequence]
    model: Encoder
    device: torch.device
    protocols: list[Protocol]
    points: list[dict[str, str]]
    placement: Placement
    started: float
    progress: Progress | None = None
    group: ProcessGroup | None = None
    tuning: Tuning | None = None
