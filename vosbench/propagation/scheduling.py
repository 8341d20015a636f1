"""CPU scheduling of a frame's independent pieces of work, and per-thread scratch buffers."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


_SCRATCH = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A reusable per-thread CPU buffer for a large temporary (the scores of a product).

    Reusing it instead of allocating megabytes per block keeps the C allocator from fragmenting
    its per-thread heaps, which otherwise made peak memory drift with the length of a run. GPU
    tensors come from torch's caching allocator instead.
    """
    numel = math.prod(shape)
    if device.type != "cpu":
        return torch.empty(shape, dtype=dtype, device=device)
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    buf = bufs.get((name, dtype))
    if buf is None or buf.numel() < numel:
        buf = torch.empty(numel, dtype=dtype)
        bufs[(name, dtype)] = buf
    return buf[:numel].view(shape)


def run_or_defer(tasks: list[Callable[[], None]] | None, task: Callable[[], None]) -> None:
    if tasks is None:
        task()
    else:
        tasks.append(task)


def run_tasks(tasks: list[Callable[[], None]], device: torch.device) -> None:
    """Run independent pieces of work (they write disjoint rows of the result).

    On a multi-core CPU the pieces are shared out to one worker thread per core, each running
    its torch operations single-threaded. The many small operations of a frame then do not each
    wait at a parallel-region barrier for every core, which on a busy machine (cores shared with
    other processes) made them several times slower than the same work on one core.
    """
    global _POOL
    n = torch.get_num_threads()
    if device.type != "cpu" or n <= 1 or len(tasks) <= 1 or not _POOL_LOCK.acquire(blocking=False):
        for task in tasks:  # GPU (one stream), one core, or another caller owns the workers
            task()
        return
    try:
        if _POOL is None or _POOL._max_workers != n:
            _POOL = ThreadPoolExecutor(max_workers=n, thread_name_prefix="vosbench-propagate")
        torch.set_num_threads(1)
        try:
            for f in [_POOL.submit(task) for task in tasks]:
                f.result()
        finally:
            torch.set_num_threads(n)
    finally:
        _POOL_LOCK.release()


def small_tensor(values: list[int] | list[float], dev: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small tensor of Python values on ``dev``. On a GPU it goes through pinned memory with an
    asynchronous copy, so the host does not wait for the queued work (no round trip)."""
    t = torch.tensor(values, dtype=dtype)
    if dev.type == "cuda":
        return t.pin_memory().to(dev, non_blocking=True)
    return t.to(dev)

