"""Host-side work of a run (JPEG decoding, PNG writing, scoring) in a pool of worker processes.

A GPU propagates a 480p frame in a few milliseconds; decoding its JPEG, writing its prediction
PNG and scoring it against the GT take 13-16 ms of one CPU core (measured on the DAVIS sample,
``benchmarks/host.py``). One Python process cannot keep up with the GPU, so a run hands this work
to :class:`HostPool`: ``workers`` processes plus three threads for work that cannot leave
the process (sequences of plugins that decode frames themselves). Workers are forked where the
platform can (as torch's DataLoader does): they start in milliseconds and never re-run the
caller's script, which ``spawn`` does for scripts without an ``if __name__ == "__main__"`` guard
(a user's script calling :func:`vosbench.run` would run again in every worker). They use numpy
and Pillow only, never torch or CUDA state inherited from the run process.

:class:`FrameReader` decodes the frames of a whole list of sequences in order, a fixed number of
frames ahead of their use, so the next sequence's first frames are decoded while this one still
propagates.

Failure modes: an error raised by a job (a corrupt file) comes back as that error; a worker that
dies (killed, out of memory) becomes a :class:`HostWorkerError` naming what to do. Workers ignore
SIGINT and outlive a SIGTERM by :data:`TERM_GRACE_S` seconds (both reach the whole process group;
the run process decides when to stop and shuts the pool down), and end by themselves when the
run process is gone (e.g. after ``kill -9``): nothing is left behind.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection
from typing import Any, TypeVar

import numpy as np

from vosbench.core.errors import ConfigError, VosbenchError
from vosbench.core.labels import read_rgb
from vosbench.core.video import VideoSequence

T = TypeVar("T")

#: seconds a worker goes on after SIGTERM (its job in hand ends; the run process shuts it down)
TERM_GRACE_S = 2.0

#: the signals that stop a run (both reach the whole process group, workers included)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

#: most worker processes ``auto`` starts (more rarely pays: one worker handles ~70 frames/s)
MAX_AUTO_WORKERS = 16


class HostWorkerError(VosbenchError):
    """A host worker process ended without finishing its job (killed, out of memory)."""


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def auto_workers(device_type: str) -> int:
    """Worker processes for ``--workers auto``: on a GPU run, the CPUs of this process shared by
    the run processes on this node (``LOCAL_WORLD_SIZE`` under torchrun), at most
    :data:`MAX_AUTO_WORKERS`; on a CPU run 0 (in-process threads: the CPUs are busy propagating,
    and starting processes would only add to a short run; ``benchmarks/host.py`` measures both)."""
    if device_type != "cuda":
        return 0
    try:
        per_node = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        per_node = 1
    return max(1, min(MAX_AUTO_WORKERS, usable_cpus() // per_node))


def resolve_workers(value: object, device_type: str) -> int:
    """``workers`` as given (``None`` or ``"auto"``: :func:`auto_workers`; else a count >= 0)."""
    if value is None or value == "auto":
        return auto_workers(device_type)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"workers={value!r}: expected \"auto\" or a number of processes (0 = none)")
    return value


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # re-parented: the run process is gone
            os._exit(0)


def _exit_soon(signum: int, frame: object) -> None:
    # SIGTERM to the whole process group (SLURM, `kill -- -PGID`): the run process is stopping
    # too and shuts the pool down; give the job in hand the time to end, then go.
    timer = threading.Timer(TERM_GRACE_S, os._exit, args=(128 + signum,))
    timer.daemon = True
    timer.start()


def _block_stop_signals() -> set[int] | None:
    """Block SIGTERM and SIGINT in this thread; the mask before (``None``: no ``pthread_sigmask`` here)."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        return None
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS))


def _restore_mask(mask: set[int] | None) -> None:
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _worker_main(conn: Connection, parent: int) -> None:
    """A worker: run each ``(fn, args)`` received on ``conn`` and send back ``(True, (value,
    seconds))`` or ``(False, error)``; ``None`` (or the run process gone) ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the run process decides
    signal.signal(signal.SIGTERM, _exit_soon)
    if hasattr(signal, "pthread_sigmask"):  # blocked since the fork (see _Worker): delivered from here on
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="vosbench-watch").start()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        fn, args = job
        try:
            reply: tuple[bool, Any] = (True, _timed(fn, args))
        except BaseException as e:  # the job's own error goes back to the run process
            reply = (False, e)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as e:  # a result or error that does not pickle
            conn.send((False, RuntimeError(f"{getattr(fn, '__name__', fn)}: result could not be sent back ({e!r})")))


def _timed(fn: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, float]:
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class _Worker:
    def __init__(self, ctx: Any, parent: int):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, parent), daemon=True, name="vosbench-host-worker")
        # a SIGTERM to the process group that reached the worker before its own handlers were set
        # would run this process's handler there (RunInterrupted: a traceback and a worker gone);
        # the worker starts with both signals blocked and unblocks them once its handlers are set
        before = _block_stop_signals()
        try:
            self.proc.start()
        finally:
            _restore_mask(before)
        child.close()  # only the worker holds its end: its death is an end of file here
        self.job: Future[Any] | None = None


class HostPool:
    """``workers`` processes (0: none, everything in threads of this process) and three threads.

    Use as a context manager; :meth:`submit` runs a module-level function with picklable
    arguments in a worker process (in a thread when there are none), :meth:`submit_local` runs
    anything in a thread of this process. :meth:`result` waits for a job and turns a dead worker
    into :class:`HostWorkerError`.

    Each worker has a pipe of its own and one job at a time, and a collector thread here reads
    every pipe and watches every worker process. So a worker killed at any instant, even in the
    middle of sending a result, is seen as an end of file or a dead process, and every job in
    flight or queued fails with :class:`HostWorkerError` (``concurrent.futures``'
    ProcessPoolExecutor shares one result pipe between workers and waits forever for the rest of
    a message cut off that way).
    """

    def __init__(self, workers: int = 0):
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.workers = workers
        self._threads = ThreadPoolExecutor(max_workers=3, thread_name_prefix="vosbench-host")
        self._lock = threading.Lock()
        self._queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._broken_error: HostWorkerError | None = None
        self._closing = False
        self._pool: list[_Worker] = []
        self._collector: threading.Thread | None = None
        if workers:
            ctx = _context()
            self._wake_r, self._wake_w = ctx.Pipe(duplex=False)
            self._pool = [_Worker(ctx, os.getpid()) for _ in range(workers)]
            self._collector = threading.Thread(target=self._collect, daemon=True, name="vosbench-host-collect")
            self._collector.start()

    def __enter__(self) -> HostPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[tuple[T, float]]:
        """Run ``fn(*args)`` in a worker process (a thread without workers); the future's
        result is ``(value, seconds the job took)``."""
        if not self._pool:
            return self._threads.submit(_timed, fn, args)
        fut: Future[tuple[T, float]] = Future()
        with self._lock:
            if self._broken_error is not None:
                raise self._broken_error
            if self._closing:
                raise RuntimeError("HostPool: submit after close")
            self._queue.append((fut, fn, args))
            self._dispatch()
        return fut

    def submit_local(self, fn: Callable[..., T], *args: Any) -> Future[tuple[T, float]]:
        """Run ``fn(*args)`` in a thread of this process (for what cannot be pickled)."""
        return self._threads.submit(_timed, fn, args)

    def result(self, fut: Future[T]) -> T:
        """The job's result (re-raises its error; a dead worker: :class:`HostWorkerError`)."""
        return fut.result()

    # -- inside ------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers (call with the lock held)."""
        for w in self._pool:
            if w.job is not None:
                continue
            while self._queue:
                fut, fn, args = self._queue.popleft()
                if not fut.set_running_or_notify_cancel():
                    continue  # cancelled while queued
                try:
                    w.conn.send((fn, args))
                except (OSError, EOFError):  # the worker is gone: the collector says so
                    self._queue.appendleft((fut, fn, args))
                    return
                except Exception as e:  # the job does not pickle: its own error
                    fut.set_exception(e)
                    continue
                except BaseException:  # a signal handled mid-send (RunInterrupted): the job may be
                    w.job = fut  # in the pipe whole, in part or not at all; stop that worker and
                    w.proc.kill()  # let the collector fail the pool, rather than mismatch replies
                    raise
                w.job = fut
                break
            if not self._queue:
                return

    def _collect(self) -> None:
        try:
            self._collect_loop()
        except BaseException as e:  # never leave futures waiting on a thread that is gone
            self._break(f"the pool's collector thread failed ({type(e).__name__}: {e})")

    def _collect_loop(self) -> None:
        # every pipe is watched, busy or not: a job handed to an idle worker while this thread
        # waits is seen without waking it; an idle worker's pipe becomes readable only when the
        # worker dies (end of file)
        waits: list[Any] = [w.conn for w in self._pool] + [w.proc.sentinel for w in self._pool] + [self._wake_r]
        while True:
            with self._lock:
                if self._closing and not any(w.job for w in self._pool) and not self._queue:
                    return
            ready = mp_connection.wait(waits)
            if self._wake_r in ready:
                try:
                    self._wake_r.recv()
                except (EOFError, OSError):
                    pass
            for w in self._pool:
                if w.conn not in ready:
                    continue
                try:
                    ok, value = w.conn.recv()
                except (EOFError, OSError):  # died while sending (or before)
                    self._break()
                    return
                except Exception as e:  # a whole message that does not unpickle here (e.g. an odd exception)
                    ok, value = False, RuntimeError(f"a host worker's reply could not be read back ({type(e).__name__}: {e})")
                with self._lock:
                    fut, w.job = w.job, None
                    self._dispatch()
                assert fut is not None
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
            if any(w.proc.sentinel in ready for w in self._pool):
                self._break()
                return

    def _break(self, why: str | None = None) -> None:
        """A worker died (or ``why``): fail every job in flight or queued, stop the workers."""
        err = HostWorkerError(
            (why or "a host worker process (frame decoding, PNG writing, scoring) ended without finishing "
             "its job: it was killed or ran out of memory")
            + ". Sequences committed so far are kept; continue with `vosbench run --resume RUN_DIR`, "
            "with fewer --workers (or --workers 0 to do this work in the run process) if memory is short"
        )
        with self._lock:
            self._broken_error = err
            failed = [w.job for w in self._pool if w.job is not None] + [f for f, _, _ in self._queue]
            self._queue.clear()
            for w in self._pool:
                w.job = None
        for fut in failed:
            if not fut.done() and (fut.running() or fut.set_running_or_notify_cancel()):
                fut.set_exception(err)
        for w in self._pool:
            if w.proc.is_alive():
                w.proc.kill()

    def close(self, cancel: bool = False) -> None:
        """Wait for the jobs in flight (``cancel``: drop the queued ones first) and stop."""
        if self._pool:
            with self._lock:
                if cancel:
                    for fut, _, _ in self._queue:
                        fut.cancel()
                    self._queue.clear()
                self._closing = True
            self._wake_w.send(None)
            assert self._collector is not None
            self._collector.join()
            for w in self._pool:
                try:
                    w.conn.send(None)
                except (OSError, EOFError):
                    pass
            for w in self._pool:
                w.proc.join(timeout=5)
                if w.proc.is_alive():
                    w.proc.kill()
                    w.proc.join()
                w.conn.close()
            self._pool = []
        self._threads.shutdown(wait=True, cancel_futures=cancel)


def _read_default(seq: VideoSequence) -> bool:
    return type(seq).read_image is VideoSequence.read_image


class FrameReader:
    """Decodes the frames of ``sequences`` in order, ``depth`` frames ahead of :meth:`read`,
    across sequence boundaries, in ``pool``'s workers (frames of sequences that read images
    their own way: in its threads).

    :meth:`read` of a frame that was not scheduled (another order, another sequence) decodes it
    directly, so any access pattern gives the right frames; in-order access gets them decoded
    ahead.
    """

    def __init__(self, pool: HostPool, sequences: Iterable[VideoSequence], depth: int = 8):
        self.pool = pool
        self.depth = max(1, depth)
        self._todo = deque((seq, t) for seq in sequences for t in range(len(seq)))
        self._ahead: deque[tuple[VideoSequence, int, Future[tuple[np.ndarray, float]]]] = deque()
        self._fill()

    def _fill(self) -> None:
        while self._todo and len(self._ahead) < self.depth:
            seq, t = self._todo.popleft()
            if _read_default(seq):
                fut = self.pool.submit(read_rgb, seq.image_paths[t])
            else:
                fut = self.pool.submit_local(seq.read_image, t)
            self._ahead.append((seq, t, fut))

    def read(self, seq: VideoSequence, t: int) -> np.ndarray:
        """Frame ``t`` of ``seq`` as (H, W, 3) uint8 RGB."""
        if not self._at_head(seq, t):
            self._skip_to(seq, t)
        if self._at_head(seq, t):
            fut = self._ahead.popleft()[2]
            self._fill()
            return self.pool.result(fut)[0]
        return seq.read_image(t)

    def _at_head(self, seq: VideoSequence, t: int) -> bool:
        return bool(self._ahead) and self._ahead[0][0] is seq and self._ahead[0][1] == t

    def _skip_to(self, seq: VideoSequence, t: int) -> None:
        """Frames scheduled before (seq, t) will not be read (e.g. a sequence left out): drop
        them. A frame not scheduled at all is left to be decoded directly."""
        if any(s is seq and i == t for s, i, _ in self._ahead):
            while not self._at_head(seq, t):
                self._ahead.popleft()[2].cancel()
        elif any(s is seq and i == t for s, i in self._todo):
            for _, _, fut in self._ahead:
                fut.cancel()
            self._ahead.clear()
            while not (self._todo[0][0] is seq and self._todo[0][1] == t):
                self._todo.popleft()
            self._fill()

    def close(self) -> None:
        """Drop the frames decoded ahead and not read."""
        for _, _, fut in self._ahead:
            fut.cancel()
        self._ahead.clear()
        self._todo.clear()
