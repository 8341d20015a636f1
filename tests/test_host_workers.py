"""Host worker processes (`--workers`): frame decoding, PNG writing and scoring outside the run
process give the same files and numbers as in-process threads; their failure modes (a corrupt
file, a killed worker, a killed run process, SIGTERM to the whole process group) end in clear
errors, kept work and no processes left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.test_shards import assert_same_predictions, assert_same_record, env, run, run_here, synth, vosbench
from vosbench.cli.main import cli
from vosbench.core.errors import InputFileError
from vosbench.core.labels import read_rgb
from vosbench.core.video import VideoSequence
from vosbench.runs.ledger import STAGING
from vosbench.core.workers import FrameReader, HostPool, HostWorkerError, auto_workers
from vosbench.scoring.jf import SequenceScorer
from tests.support import cli as support_cli


# --- the scorer's two-step interface ---------------------------------------------------------------------


def random_video(rng: np.random.Generator, n: int, objects: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    gts, preds = [], []
    for _ in range(n):
        gt = np.zeros((40, 56), np.uint8)
        pred = np.zeros((40, 56), np.uint8)
        for k in range(1, objects + 1):
            y, x = rng.integers(0, 30), rng.integers(0, 44)
            gt[y : y + 10, x : x + 12] = k
            dy, dx = rng.integers(-3, 4, size=2)
            pred[max(0, y + dy) : y + dy + 10, max(0, x + dx) : x + dx + 12] = k
        gt[rng.random(gt.shape) < 0.01] = 255  # void
        gts.append(gt)
        preds.append(pred)
    return gts, preds


def test_measures_put_back_in_any_order_equal_add():
    from vosbench.scoring.jf import measure_frame

    rng = np.random.default_rng(0)
    gts, preds = random_video(rng, 12, 3)
    starts = {1: 0, 2: 3, 3: 7}  # objects 2 and 3 join later (YouTube-VOS rule)
    ref = SequenceScorer("v", first_frames=starts)
    for gt, pred in zip(gts, preds):
        ref.add(gt, pred)
    two = SequenceScorer("v", first_frames=starts)
    checks = [two.expect(gt0=gts[0])] + [two.expect() for _ in gts[1:]]
    for i in rng.permutation(len(gts))[::-1]:  # measured elsewhere, back in another order
        two.put(checks[i], *measure_frame(checks[i], gts[i], preds[i]))
    a, b = ref.result(), two.result()
    assert [s.object for s in a] == [s.object for s in b] == [1, 2, 3]
    for x, y in zip(a, b):
        assert x.metrics() == y.metrics()
        assert np.array_equal(x.J_frames, y.J_frames, equal_nan=True)


def test_measure_frame_errors_name_the_frame():
    from vosbench.scoring.jf import measure_frame

    s = SequenceScorer("seq")
    gt = np.zeros((8, 8), np.uint8)
    gt[2:5, 2:5] = 1
    s.expect("00000", gt0=gt)
    check = s.expect("00001")
    with pytest.raises(InputFileError, match=r"seq/00001: predicted id 7 is not an object"):
        measure_frame(check, gt, np.full((8, 8), 7, np.uint8))
    with pytest.raises(InputFileError, match=r"seq/00001: GT frame is 9x8 but the sequence's first frame is 8x8"):
        measure_frame(check, np.zeros((8, 9), np.uint8), gt)


# --- the pool and the frame reader -----------------------------------------------------------------------


def test_pool_returns_results_and_errors_and_reports_a_dead_worker(davis16_mini, tmp_path):
    frame = davis16_mini / "JPEGImages/480p/car-shadow/00000.jpg"
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    with HostPool(2) as pool:
        img, seconds = pool.result(pool.submit(read_rgb, frame))
        assert np.array_equal(img, read_rgb(frame)) and seconds > 0
        with pytest.raises(InputFileError, match="bad.jpg"):  # the worker's error, as raised there
            pool.result(pool.submit(read_rgb, bad))
        with pytest.raises(HostWorkerError, match=r"--resume RUN_DIR.*--workers 0"):
            pool.result(pool.submit(os._exit, 1))  # a worker that dies (as if killed)
        with pytest.raises(HostWorkerError):  # and the pool says so from then on
            pool.submit(read_rgb, frame)


def big_result(n: int) -> np.ndarray:
    return np.ones(n, np.uint8)


def bytes_written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar")


@pytest.mark.skipif(not Path("/proc/self/io").is_file(), reason="reads /proc (Linux)")
def test_a_worker_killed_while_sending_its_result_fails_the_job_instead_of_hanging():
    """Killed in the middle of a message (a pool sharing one result pipe waits forever for the
    rest): the job in flight and the queued ones fail with HostWorkerError, at once."""
    with HostPool(1) as pool:
        (worker,) = pool._pool
        pid = worker.proc.pid
        before = bytes_written(pid)
        fut = pool.submit(big_result, 128 * 2**20)
        queued = pool.submit(os.getpid)
        deadline = time.monotonic() + 60
        # a message is a 4-byte length, then one write of the payload: once the length is out, the
        # worker is inside the long write
        while bytes_written(pid) - before < 4:
            assert time.monotonic() < deadline and not fut.done()
            time.sleep(0.0002)
        os.kill(pid, signal.SIGKILL)
        for f in (fut, queued):
            with pytest.raises(HostWorkerError):
                f.result(timeout=30)
        with pytest.raises(HostWorkerError):
            pool.submit(os.getpid)


class OddError(Exception):
    """An error whose pickle does not load back (its __init__ takes two arguments)."""

    def __init__(self, a: str, b: str):
        super().__init__(a + b)


def raise_odd() -> None:
    raise OddError("no ", "way back")


def test_a_reply_that_does_not_unpickle_fails_its_job_only():
    with HostPool(1) as pool:
        with pytest.raises(RuntimeError, match="could not be read back"):
            pool.result(pool.submit(raise_odd))
        assert pool.result(pool.submit(os.getpid))[0] != os.getpid()  # the pool goes on


def test_a_stop_signal_while_a_worker_starts_waits_for_its_own_handlers(monkeypatch, capfd):
    """SIGTERM reaches the whole process group, also a worker that is just forked and still has
    the run process's handler (which raises RunInterrupted, a traceback in the worker): the
    signal waits until the worker's own handlers are set, and its job still comes back."""
    from vosbench.core import workers
    from vosbench.runs.signals import interruptible

    real_main = workers._worker_main

    def signalled_at_birth(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # handled here, before the worker sets its handlers
        real_main(*args)

    monkeypatch.setattr(workers, "_worker_main", signalled_at_birth)
    with interruptible(), HostPool(1) as pool:
        assert pool.result(pool.submit(abs, -3))[0] == 3
    assert "Traceback" not in capfd.readouterr().err


def test_a_job_whose_sending_a_signal_cut_short_never_gets_another_jobs_reply(monkeypatch):
    """SIGTERM handled in the run process while it hands a job to a worker (the handler raises
    in the middle of the send): the job may be in the pipe whole, in part or not at all, so that
    worker is stopped; a later job fails as the pool's failure, never with another job's result."""
    from multiprocessing.connection import Connection

    from vosbench.core.errors import RunInterrupted

    real_send, cut = Connection.send, []

    def send(self: Connection, obj: object) -> None:
        real_send(self, obj)
        if not cut and isinstance(obj, tuple) and obj[0] is abs:
            cut.append(obj)
            raise RunInterrupted(signal.SIGTERM, "SIGTERM")  # as the handler does at the next instruction

    monkeypatch.setattr(Connection, "send", send)
    with HostPool(1) as pool:
        with pytest.raises(RunInterrupted):
            pool.submit(abs, -3)
        with pytest.raises(HostWorkerError):
            pool.result(pool.submit(abs, -5))


class Flipped(VideoSequence):
    """A plugin-style sequence that makes its own frames (cannot be decoded in a worker)."""

    def read_image(self, i: int) -> np.ndarray:
        return read_rgb(self.image_paths[i])[::-1].copy()


def test_frame_reader_decodes_ahead_across_sequences(davis16_mini):
    def seq(name: str, n: int, cls: type[VideoSequence] = VideoSequence) -> VideoSequence:
        paths = sorted((davis16_mini / "JPEGImages/480p" / name).glob("*.jpg"))[:n]
        return cls(name, [p.stem for p in paths], paths)

    a, b, c, d = seq("car-shadow", 5), seq("dog", 4), seq("libby", 3, Flipped), seq("scooter-black", 3)
    with HostPool(2) as pool:
        reader = FrameReader(pool, [a, b, c, d], depth=6)
        for t in range(len(a)):
            assert np.array_equal(reader.read(a, t), a.read_image(t))
        # the next sequence's first frames were decoded while this one was in use
        assert [(s.name, t) for s, t, _ in reader._ahead][:2] == [("dog", 0), ("dog", 1)]
        # a sequence left out (b) is skipped; a plugin sequence is read through its own method
        for t in range(len(c)):
            assert np.array_equal(reader.read(c, t), c.read_image(t))
        assert np.array_equal(reader.read(d, 2), d.read_image(2))  # out of order: still right
        assert np.array_equal(reader.read(a, 0), a.read_image(0))  # not scheduled: read directly
        reader.close()


def test_auto_workers_only_on_gpu_runs(monkeypatch):
    assert auto_workers("cpu") == 0
    monkeypatch.setattr("vosbench.core.workers.usable_cpus", lambda: 32)
    assert auto_workers("cuda") == 16
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert auto_workers("cuda") == 4


def children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out.update(int(x) for x in (task / "children").read_text().split())
        except OSError:  # the thread ended meanwhile
            pass
    return out


def workers_of(pid: int) -> set[int]:
    """The pool's worker processes among ``pid``'s children: forked, so they share its command
    line (a short-lived `git` child of the run does not)."""
    for _ in range(100):
        try:
            parent = Path(f"/proc/{pid}/cmdline").read_bytes()
            return {c for c in children(pid) if Path(f"/proc/{c}/cmdline").read_bytes() == parent}
        except OSError:  # a process ended meanwhile (FileNotFoundError or ProcessLookupError)
            if not Path(f"/proc/{pid}").exists():
                return set()
    return set()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: set[int], seconds: float = 20) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if alive(p)}


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_workers_end_when_the_run_process_is_killed(tmp_path):
    script = textwrap.dedent(
        """
        import os, sys, time
        from vosbench.core.workers import HostPool
        pool = HostPool(2)
        jobs = [pool.submit(time.sleep, 1.0) for _ in range(2)]  # both workers busy: both started
        [pool.result(j) for j in jobs]
        print("ready", flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        workers = workers_of(proc.pid)
        assert len(workers) == 2
        proc.kill()  # kill -9: no clean-up runs in the parent
        proc.wait()
        assert wait_gone(workers) == set()
    finally:
        proc.kill()


# --- whole runs ------------------------------------------------------------------------------------------


invoke = partial(support_cli.invoke, catch_exceptions=False)


def test_real_davis_identity_with_workers_equals_in_process_and_official(davis16_mini, tmp_path):
    """Writing and scoring the six real sequences in 2 worker processes: the same PNGs and CSVs as
    in the run process, and the official evaluation's numbers."""
    runs = {}
    for w in ("0", "2"):
        res = invoke("run", "--model", "identity", "--dataset", "davis16-val", "--data-root", str(davis16_mini),
                     "--out", str(tmp_path / w), "--device", "cpu", "--workers", w, "--quiet")
        assert res.exit_code == 0, res.output
        (runs[w],) = (tmp_path / w / "davis16-val/identity").iterdir()
    assert_same_record(runs["0"], runs["2"], ("per_object.csv", "per_frame.csv"))
    assert_same_predictions(runs["0"], runs["2"])
    rec = json.loads((runs["2"] / "summary.json").read_text())
    assert rec["environment"]["host_workers"] == 2
    assert abs(rec["metrics"]["JF_mean"] - 0.2655281305) < 1e-6
    assert json.loads((runs["0"] / "summary.json").read_text())["environment"]["host_workers"] == 0


def test_workers_option_is_checked_and_per_process(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--workers", "-1", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "expected auto or a number of processes" in res.output
    res = CliRunner().invoke(cli, ["run", "--workers", "many", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "expected auto or a number of processes" in res.output
    cfg = tmp_path / "run.toml"
    cfg.write_text('workers = "all"\n')
    res = CliRunner().invoke(cli, ["run", "--config", str(cfg), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "'workers' must be" in res.output


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workers")


ARGS = ("--model", "lab", "--dataset", "synthetic-davis", "--data-root", "long", "--device", "cpu")


@pytest.fixture(scope="module")
def reference(tmp) -> Path:
    """A synthetic set with videos long enough to be caught mid-run, and its in-process run."""
    synth(tmp, "davis", "long", "--videos", "3", "--frames", "24", "--size", "160x96")
    run_here("run", "--model", "lab", "--dataset", "synthetic-davis", "--data-root", str(tmp / "long"), "--device", "cpu",
             "--out", str(tmp / "ref"), "--workers", "0")
    (run_dir,) = (tmp / "ref/synthetic-davis/lab").iterdir()
    return run_dir


@pytest.fixture
def stop_after():
    """Whatever happens in the test, the run it started (and its process group) is gone after."""
    started: list[subprocess.Popen[str]] = []
    yield started.append
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def start_with_workers(tmp: Path, out: str, stop_after) -> tuple[subprocess.Popen[str], set[int]]:
    """Start a run with 2 workers in its own process group (handed to ``stop_after``); return it
    once its workers are up and one sequence is committed (so there is work to keep and work in
    flight)."""
    proc = subprocess.Popen(vosbench(tmp, "run", *ARGS, "--out", out, "--workers", "2"), env=env(tmp), cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    stop_after(proc)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        workers = workers_of(proc.pid)
        if len(workers) == 2 and list(tmp.glob(f"{out}/synthetic-davis/lab/*/sequences/*/result.json")):
            return proc, workers
        time.sleep(0.02)
    raise AssertionError("the run never started its workers and committed a sequence")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_killed_worker_fails_the_run_clearly_and_resume_completes_it(tmp, reference, stop_after):
    proc, workers = start_with_workers(tmp, "kw", stop_after)
    os.kill(min(workers), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "host worker process" in err and "--resume" in err and "Traceback" not in err
    (run_dir,) = (tmp / "kw/synthetic-davis/lab").iterdir()
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "failed" and "host worker" in rec["error"]
    assert wait_gone(workers) == set()
    run(vosbench(tmp, "run", "--resume", str(run_dir), "--workers", "2"), tmp)
    assert_same_record(reference, run_dir, ("per_object.csv", "per_frame.csv"))
    assert_same_predictions(reference, run_dir)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_sigterm_to_the_process_group_records_interrupted_and_leaves_no_workers(tmp, reference, stop_after):
    proc, workers = start_with_workers(tmp, "term", stop_after)
    os.killpg(proc.pid, signal.SIGTERM)  # as SLURM does: every process of the job gets it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    (run_dir,) = (tmp / "term/synthetic-davis/lab").iterdir()
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "interrupted" and rec["signal"] == "SIGTERM"
    assert wait_gone(workers) == set()
    done = sorted(p.parent.name for p in (run_dir / "sequences").glob("*/result.json"))
    rows = (run_dir / "per_object.csv").read_text().splitlines()[1:]
    ref = {r for r in (reference / "per_object.csv").read_text().splitlines()[1:] if r.split(",")[0] in done}
    assert done and set(rows) == ref


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc (Linux)")
def test_sigterm_while_a_sequence_lock_is_dropped_records_interrupted(tmp, reference, monkeypatch):
    """SIGTERM handled just after a sequence lock's file descriptor is closed (the handler raises
    at the next instruction, before the lock knows it is released): the clean-up must not close
    that descriptor again (EBADF, reported as bad input with exit 2 and no record)."""
    real_close, fired = os.close, []

    def close(fd: int) -> None:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        real_close(fd)
        if not fired and f"/{STAGING}/" in target and ".lock" in target:
            fired.append(target)
            os.kill(os.getpid(), signal.SIGTERM)  # handled here, inside FileLock.release

    monkeypatch.setenv("VOSBENCH_NO_PLUGINS", "1")
    monkeypatch.setattr(os, "close", close)
    out = tmp / "lockterm"
    res = CliRunner().invoke(cli, ["run", *ARGS[:4], "--data-root", str(tmp / "long"), "--device", "cpu",
                                   "--out", str(out), "--workers", "0"])
    monkeypatch.undo()
    assert fired and res.exit_code == 143, res.output
    assert "Interrupted (SIGTERM)" in res.output and "Traceback" not in res.output
    (run_dir,) = (out / "synthetic-davis/lab").iterdir()
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "interrupted" and rec["signal"] == "SIGTERM"
    assert not list(run_dir.glob(f"{STAGING}/*.lock")) and not list(run_dir.glob(".shard-*.lock"))
    run(vosbench(tmp, "run", "--resume", str(run_dir), "--workers", "0"), tmp)
    assert_same_record(reference, run_dir, ("per_object.csv", "per_frame.csv"))


def test_api_script_without_main_guard_runs_once_with_workers(tmp, reference):
    """Workers never re-run the caller's script (as `spawn` would for a script without an
    ``if __name__ == "__main__"`` guard)."""
    script = tmp / "unguarded.py"
    script.write_text(textwrap.dedent(
        """
        import vosbench
        print("script started", flush=True)
        out = vosbench.run("lab", "synthetic-davis", data_root="long", device="cpu", out="api", workers=2)
        print(out.record["environment"]["host_workers"], round(out.metrics["JF_mean"], 12))
        """
    ))
    res = run([sys.executable, str(script)], tmp)
    ref = json.loads((reference / "summary.json").read_text())["metrics"]["JF_mean"]
    assert res.stdout.splitlines() == ["script started", f"2 {round(ref, 12)}"]


def test_api_refuses_a_bad_worker_count(tmp, reference):
    import vosbench

    with pytest.raises(vosbench.ConfigError, match=r"workers=-2: expected \"auto\" or a number"):
        vosbench.run("lab", "synthetic-davis", data_root=str(tmp / "long"), device="cpu", out=str(tmp / "bad"), workers=-2)


def test_host_benchmark_runs_and_every_setting_scores_alike(davis16_mini):
    res = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[1] / "benchmarks/host.py"), "--data", str(davis16_mini),
         "--repeat", "1", "--workers", "0,2", "--dispatch-ops", "50"],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [ln for ln in res.stdout.splitlines() if ln.startswith("--workers")]
    assert len(rows) == 4 and all(ln.endswith("yes") for ln in rows[:2]), res.stdout
    assert "282 frames (854x480)" in res.stdout
