"""torch.distributed for a run launched by torchrun: one process group, used for one barrier.

Every rank fills the shared run folder with its shard; rank 0 writes the record once all ranks
are past the barrier. The barrier is polled (not a blocking call), so SIGTERM and SIGINT still
reach a rank that waits there.
"""

from __future__ import annotations

import datetime as _dt
import time

import torch

#: how long a rank waits at the barrier for the slowest one (shards differ by about a sequence)
BARRIER_TIMEOUT = _dt.timedelta(hours=24)


class ProcessGroup:
    """The default process group of a torchrun launch (gloo on CPU, NCCL on CUDA devices)."""

    def __init__(self, device: torch.device):
        import torch.distributed as dist

        self.dist = dist
        self.device = device
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        self.owned = not dist.is_initialized()
        if self.owned:
            dist.init_process_group(self.backend, timeout=BARRIER_TIMEOUT)

    @property
    def rank(self) -> int:
        return int(self.dist.get_rank())

    def barrier(self) -> None:
        """Wait for every rank (polling, so signal handlers run meanwhile)."""
        if self.backend == "nccl":
            work = self.dist.barrier(async_op=True, device_ids=[self.device.index or 0])
        else:
            work = self.dist.barrier(async_op=True)
        assert work is not None
        while not work.is_completed():
            time.sleep(0.05)
        work.wait()

    def close(self) -> None:
        if self.owned and self.dist.is_initialized():
            self.dist.destroy_process_group()
