"""How propagation uses the host: torch's CPU threads and the C allocator's free memory."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

import torch

from vosbench.core.errors import ConfigError


def use_all_cpu_threads() -> int:
    """Let torch use every CPU this process may run on (once per process; returns the thread
    count). ``VOSBENCH_THREADS=N`` asks for N threads instead; a thread count pinned with
    OMP_NUM_THREADS or MKL_NUM_THREADS is left alone."""
    if not getattr(use_all_cpu_threads, "_done", False):
        use_all_cpu_threads._done = True  # type: ignore[attr-defined]
        want = os.environ.get("VOSBENCH_THREADS", "").strip()
        if want:
            try:
                torch.set_num_threads(max(1, int(want)))
            except ValueError:
                raise ConfigError(f"VOSBENCH_THREADS={want!r}: expected a number of threads") from None
        elif not any(os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
            try:
                n = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                n = os.cpu_count() or 1
            if torch.get_num_threads() < n:
                torch.set_num_threads(n)
    return torch.get_num_threads()


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or a no-op elsewhere."""
    try:
        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    fn.argtypes = [ctypes.c_size_t]
    return lambda: None if os.environ.get("VOSBENCH_NO_TRIM") else fn(0)


#: Hand memory freed by the C allocator back to the OS. glibc keeps freed blocks in per-thread
#: heaps (decoding, writing, scoring and propagation threads each have one), and without trimming
#: their retained, fragmented free space made peak memory creep up with the length of a video.
release_free_memory = _malloc_trim()
