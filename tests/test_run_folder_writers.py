"""One writer per run folder part, and run folders that lie.

Two processes on one run folder (two runs with one ``--run-id``, two ``--resume`` of one folder)
must each end in a refusal (exit 2, one line naming the holder) or in complete, correct
predictions, never in a "complete" record with PNGs missing. A symbolic link in the staging or
commit area, or an edited ``plan.json``/``result.json``, is refused with one line naming the
file before anything is read or written through it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosbench.core.errors import ConfigError
from vosbench.runs import ledger
from vosbench.runs.locks import FileLock
from tests.support.cli import invoke

ARGS = ("--model", "lab", "--dataset", "synthetic-davis", "--device", "cpu")


def assert_exit_2_one_line(res, *needles: str) -> str:
    assert res.exit_code == 2, (res.exit_code, res.output, res.exc_info)
    assert isinstance(res.exception, SystemExit), res.exc_info
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def env(tmp: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC_"))}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        e.pop(k, None)
    e.update(VOSBENCH_NO_PLUGINS="1", VOSBENCH_CACHE=str(tmp / "cache"), OMP_NUM_THREADS="1", VOSBENCH_THREADS="1")
    return e


def together(tmp: Path, *argvs: list[str], timeout: float = 300) -> list[tuple[int, str]]:
    """Start the ``vosbench`` commands at once (each in its own process group, killed with it at
    the end whatever happens); return each one's exit code and stderr."""
    procs = []
    try:
        for argv in argvs:
            procs.append(subprocess.Popen([sys.executable, "-m", "vosbench", *argv], env=env(tmp), cwd=tmp,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                          start_new_session=True))
        errs = [p.communicate(timeout=timeout)[1] for p in procs]
        return [(p.returncode, err) for p, err in zip(procs, errs)]
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def pngs(run_dir: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(run_dir).as_posix(): np.asarray(Image.open(p))
            for p in sorted((run_dir / "predictions").rglob("*.png"))}


def assert_complete_and_correct(run_dir: Path, reference: Path) -> None:
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "complete"
    got, want = pngs(run_dir), pngs(reference)
    assert sorted(got) == sorted(want), f"{len(got)} of {len(want)} PNGs"
    for k in want:
        assert np.array_equal(got[k], want[k]), k
    for table in ("per_object.csv", "per_frame.csv"):
        assert (run_dir / table).read_bytes() == (reference / table).read_bytes(), table
    assert not list(run_dir.glob(".*.lock")) and not (run_dir / ".partial").exists()


def assert_refused_or_done(outcomes: list[tuple[int, str]]) -> None:
    assert 0 in [rc for rc, _ in outcomes], outcomes
    for rc, err in outcomes:
        assert rc in (0, 2), (rc, err)
        if rc == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "is being written by another process, pid " in lines[0], err
            assert "since" in lines[0] and "Traceback" not in err


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("writers")


@pytest.fixture(scope="module")
def data(tmp) -> Path:
    res = invoke("data", "synth", "davis", "--out", tmp / "davis", "--videos", "3", "--frames", "16", "--size", "160x96")
    assert res.exit_code == 0, res.output
    return tmp / "davis"


@pytest.fixture(scope="module")
def reference(tmp, data) -> Path:
    """A complete one-process run (in this process)."""
    res = invoke("run", *ARGS, "--data-root", data, "--out", tmp / "ref", "--run-id", "ref", "--quiet")
    assert res.exit_code == 0, res.output
    return tmp / "ref/synthetic-davis/lab/ref"


def copy_run(reference: Path, out: Path, drop: tuple[str, ...] = ()) -> Path:
    """A copy of the reference run at ``out`` (same run id), with the sequences ``drop`` not
    committed (their results, predictions and the record gone: a run to resume)."""
    run_dir = out / "synthetic-davis/lab/ref"
    shutil.copytree(reference, run_dir)
    for name in drop:
        shutil.rmtree(run_dir / "sequences" / name)
        shutil.rmtree(run_dir / "predictions" / name)
    if drop:
        for f in ("summary.json", "per_object.csv", "per_frame.csv"):
            (run_dir / f).unlink()
    return run_dir


def sequences(run_dir: Path) -> list[str]:
    return [s["name"] for s in json.loads((run_dir / "plan.json").read_text())["sequences"]]


# --- two processes on one run folder ---------------------------------------------------------------


def test_two_runs_with_one_run_id_at_once(tmp, data, reference):
    argv = ["run", *ARGS, "--data-root", str(data), "--out", "same", "--run-id", "same", "--quiet"]
    outcomes = together(tmp, argv, argv)
    assert_refused_or_done(outcomes)
    assert_complete_and_correct(tmp / "same/synthetic-davis/lab/same", reference)


def test_two_resumes_of_one_folder_at_once(tmp, reference):
    run_dir = copy_run(reference, tmp / "resumed", drop=tuple(sequences(reference)[1:]))
    argv = ["run", "--resume", str(run_dir), "--quiet"]
    outcomes = together(tmp, argv, argv)
    assert_refused_or_done(outcomes)
    assert_complete_and_correct(run_dir, reference)


def test_second_writer_of_one_shard_is_refused_naming_the_holder(tmp, reference):
    run_dir = copy_run(reference, tmp / "held", drop=tuple(sequences(reference)[:1]))
    holder = FileLock.take(run_dir / ".shard-0-of-1.lock", wait=False)
    assert holder is not None
    try:
        before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
        line = assert_exit_2_one_line(invoke("run", "--resume", run_dir, "--quiet"),
                                      str(run_dir), f"pid {os.getpid()} on ", "since ")
        assert "this run is being written by another process" in line
        assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before  # nothing touched
        # another shard of the run is not refused: its sequences are its own
        other = FileLock.take(run_dir / ".shard-1-of-2.lock", wait=False)
        assert other is not None
        other.release()
    finally:
        holder.release()
    res = invoke("run", "--resume", run_dir, "--quiet")
    assert res.exit_code == 0, res.output
    assert_complete_and_correct(run_dir, reference)


def test_a_sequence_is_staged_by_one_process_at_a_time(tmp, reference):
    """The second claim waits for the first to commit, then finds the sequence done."""
    run_dir = copy_run(reference, tmp / "claims", drop=tuple(sequences(reference)[:1]))
    name = sequences(reference)[0]
    first = ledger.claim_sequence(run_dir, name, "a")
    assert first is not None
    lock, stage = first
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(ledger.claim_sequence(run_dir, name, "b")))
    t.start()
    time.sleep(0.3)
    assert t.is_alive() and stage.is_dir()  # waiting; the first stage is intact
    result = {"sequence": name, "objects": []}
    assert ledger.commit(run_dir, name, stage, result, [])
    lock.release()
    t.join(10)
    assert got == [None]  # committed meanwhile: nothing to do
    assert not (run_dir / ".partial" / name / "b").exists()


# --- a symbolic link in the staging area ---------------------------------------------------------------


def test_resume_refuses_a_symlinked_staging_folder(tmp, reference):
    name = sequences(reference)[0]
    run_dir = copy_run(reference, tmp / "partial-link", drop=(name,))
    victim = tmp / "victim-partial"
    (victim / name).mkdir(parents=True)
    (victim / name / "keep.txt").write_text("keep me")
    (run_dir / ".partial").symlink_to(victim)
    assert_exit_2_one_line(invoke("run", "--resume", run_dir, "--quiet"), str(run_dir / ".partial"), "symbolic link")
    assert (victim / name / "keep.txt").read_text() == "keep me"
    assert [p.relative_to(victim).as_posix() for p in sorted(victim.rglob("*"))] == [name, f"{name}/keep.txt"]


# --- merge: plan.json, result.json and links that lie -------------------------------------------------


def edit_plan(run_dir: Path, edit) -> None:
    plan = json.loads((run_dir / "plan.json").read_text())
    edit(plan["sequences"])
    (run_dir / "plan.json").write_text(json.dumps(plan))


def test_merge_refuses_a_sequence_listed_twice(tmp, reference):
    run_dir = copy_run(reference, tmp / "twice")
    edit_plan(run_dir, lambda seqs: seqs.append(dict(seqs[0])))
    assert_exit_2_one_line(invoke("merge", run_dir), str(run_dir / "plan.json"), "appears twice")


def test_merge_refuses_a_committed_sequence_the_plan_dropped(tmp, reference):
    run_dir = copy_run(reference, tmp / "dropped")
    name = sequences(reference)[-1]
    edit_plan(run_dir, lambda seqs: seqs.pop())
    assert_exit_2_one_line(invoke("merge", run_dir), str(run_dir / "sequences" / name), "does not list")


def test_merge_refuses_a_plan_name_that_leaves_the_folder(tmp, reference):
    forged = tmp / "victim-plan" / "forged"
    shutil.copytree(reference / "sequences" / sequences(reference)[0], forged)
    run_dir = copy_run(reference, tmp / "escape")
    rel = os.path.relpath(forged, run_dir / "sequences")
    edit_plan(run_dir, lambda seqs: seqs.append({"name": rel, "frames": 16}))
    assert_exit_2_one_line(invoke("merge", run_dir), str(run_dir / "plan.json"), "is not a single safe folder/file name")


def test_merge_refuses_a_symlinked_committed_sequence(tmp, reference):
    name = sequences(reference)[0]
    forged = tmp / "victim-link" / name
    shutil.copytree(reference / "sequences" / name, forged)
    run_dir = copy_run(reference, tmp / "link")
    shutil.rmtree(run_dir / "sequences" / name)
    (run_dir / "sequences" / name).symlink_to(forged)
    assert_exit_2_one_line(invoke("merge", run_dir), str(run_dir / "sequences" / name), "symbolic link")


@pytest.mark.parametrize("how", [("merge",), ("run", "--resume")])
def test_merge_and_resume_refuse_a_result_that_claims_another_sequence(tmp, reference, how):
    a, b = sequences(reference)[:2]
    run_dir = copy_run(reference, tmp / ("relabel-" + how[0]))
    path = run_dir / "sequences" / a / "result.json"
    result = json.loads(path.read_text())
    result["sequence"] = b
    path.write_text(json.dumps(result))
    before = (run_dir / "summary.json").read_bytes()
    # --resume refuses before any work (no table, no second error about writing the record)
    assert_exit_2_one_line(invoke(*how, run_dir), str(path), f"'sequence' is {b!r}; expected {a!r}")
    if how[0] == "run":
        assert (run_dir / "summary.json").read_bytes() == before


def test_merge_of_an_untouched_run_gives_the_same_tables(tmp, reference):
    run_dir = copy_run(reference, tmp / "plain")
    (run_dir / "summary.json").unlink()
    res = invoke("merge", run_dir)
    assert res.exit_code == 0, res.output
    for table in ("per_object.csv", "per_frame.csv"):
        assert (run_dir / table).read_bytes() == (reference / table).read_bytes()


def test_run_folder_lock_refusal_is_a_config_error(tmp, reference):
    """The refusal is the run's own error kind (exit 2), raised before the plan is read."""
    import torch

    from vosbench.runs.lifecycle import RunFolder

    run_dir = copy_run(reference, tmp / "unit")
    plan = json.loads((run_dir / "plan.json").read_text())
    record, config = plan["record"], plan["config"]
    first = RunFolder(tmp / "unit", record, torch.device("cpu"), time.perf_counter(), config=config, fresh=False)
    try:
        with pytest.raises(ConfigError, match=r"is being written by another process, pid \d+ on "):
            RunFolder(tmp / "unit", record, torch.device("cpu"), time.perf_counter(), config=config, fresh=False)
    finally:
        first.lock.release()
