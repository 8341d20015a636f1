"""Sharded, resumable, interruptible runs: torchrun (gloo), `--shard I/N` + `vosbench merge`,
a simulated SLURM array, kill -9 + `--resume`, SIGTERM/SIGINT, refused resumes, log lines.

Every multi-process check compares with a one-process run of the same command: per-object and
per-frame CSVs byte for byte, prediction PNG pixels, the submission zip's members, PCK tables.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vosbench.cli.main import cli
from vosbench.core.errors import ConfigError
from vosbench.runs.shards import Shard, derived_run_id, partition, resolve_shard

REPO = Path(__file__).resolve().parents[1]
SECTION = (REPO / "docs" / "clusters.md").read_text()  # the commands of the cluster guide


# --- helpers -------------------------------------------------------------------------------------


def env(tmp: Path, **extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC_"))}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        e.pop(k, None)
    e.update(VOSBENCH_NO_PLUGINS="1", VOSBENCH_CACHE=str(tmp / "cache"), OMP_NUM_THREADS="1", VOSBENCH_THREADS="1")
    e.update(extra)
    return e


def vosbench(tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "vosbench", *args]


def run(cmd: list[str], tmp: Path, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, env=env(tmp, **extra), capture_output=True, text=True, timeout=timeout, cwd=tmp)
    assert res.returncode == 0, f"{shlex.join(cmd)} -> {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res


def run_here(*args: str) -> None:
    """``vosbench ARGS`` in this process: the one-process references (no process boundary to
    test; the run folders are compared with those the launched processes write). One torch
    thread, as :func:`env` gives the launched processes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(cli, [*args, "--quiet"], env={"VOSBENCH_THREADS": "1"}, catch_exceptions=False)
    finally:
        torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output


def synth(tmp: Path, kind: str, *args: str) -> Path:
    """Generate a synthetic set in-process (no torch import needed, cheaper than a subprocess)."""
    res = CliRunner().invoke(cli, ["data", "synth", kind, "--out", str(tmp / args[0]), *args[1:]])
    assert res.exit_code == 0, res.output
    return tmp / args[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def torchrun(n: int) -> list[str]:
    exe = Path(sys.executable).parent / "torchrun"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]
    return [*base, "--nproc-per-node", str(n), "--master-port", str(free_port())]


def readme_command(prefix: str) -> list[str]:
    """The cluster guide's example line that starts with ``prefix`` (comments dropped), as argv."""
    for line in SECTION.splitlines():
        if line.startswith(prefix):
            return shlex.split(line.split("  #")[0])
    raise AssertionError(f"docs/clusters.md has no line starting with {prefix!r}")


def retarget(argv: list[str], **values: str) -> list[str]:
    """``argv`` with the values of the named options replaced (others appended)."""
    out = list(argv)
    for key, val in values.items():
        opt = "--" + key.replace("_", "-")
        if opt in out:
            out[out.index(opt) + 1] = val
        else:
            out += [opt, val]
    return out


def drop_option(argv: list[str], opt: str) -> list[str]:
    i = argv.index(opt)
    return argv[:i] + argv[i + 2:]


def pngs(run_dir: Path) -> dict[str, np.ndarray]:
    return {p.relative_to(run_dir).as_posix(): np.asarray(Image.open(p)) for p in sorted((run_dir / "predictions").rglob("*.png"))}


def assert_same_record(a: Path, b: Path, tables: tuple[str, ...]) -> None:
    for name in tables:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ra, rb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert ra["status"] == rb["status"] == "complete"
    assert ra["metrics"] == rb["metrics"]
    assert ra["ci"] == rb["ci"]
    assert ra["dataset"]["sequences"] == rb["dataset"]["sequences"]


def assert_same_predictions(a: Path, b: Path) -> None:
    pa, pb = pngs(a), pngs(b)
    assert pa and sorted(pa) == sorted(pb)
    for k in pa:
        assert np.array_equal(pa[k], pb[k]), k


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shards")


@pytest.fixture(scope="module")
def davis(tmp) -> Path:
    return synth(tmp, "davis", "davis", "--videos", "3", "--frames", "8", "--size", "160x96")


DAVIS_ARGS = ("--model", "lab", "--dataset", "synthetic-davis", "--data-root", "davis", "--device", "cpu")


@pytest.fixture(scope="module")
def davis_single(tmp, davis) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The one-process reference run, with --json, stderr not a terminal (log lines)."""
    res = run(vosbench(tmp, "run", *DAVIS_ARGS, "--out", "single", "--json"), tmp, VOSBENCH_PROGRESS_INTERVAL="0")
    (run_dir,) = (tmp / "single/synthetic-davis/lab").iterdir()
    return run_dir, res


# --- unit: partition, shard resolution, derived ids ----------------------------------------------------


def test_partition_is_balanced_deterministic_and_complete():
    frames = [50, 40, 60, 49, 40, 43, 10, 90]
    parts = partition(frames, 3)
    assert parts == partition(frames, 3)
    assert sorted(i for p in parts for i in p) == list(range(len(frames)))
    loads = [sum(frames[i] for i in p) for p in parts]
    assert max(loads) - min(loads) <= max(frames)
    assert all(p == sorted(p) for p in parts)
    assert partition([5, 5], 4)[2:] == [[], []]  # more shards than sequences: some idle


def test_resolve_shard_from_cli_torchrun_and_slurm():
    assert resolve_shard(None, {}) == Shard()
    assert resolve_shard("1/4", {"RANK": "0", "WORLD_SIZE": "2"}) == Shard(1, 4, "cli")
    s = resolve_shard(None, {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "none"})
    assert (s.index, s.count, s.launcher, s.local_rank, s.job) == (1, 2, "torchrun", 1, None)
    s = resolve_shard(None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "2",
                             "SLURM_ARRAY_JOB_ID": "77"})
    assert (s.index, s.count, s.launcher, s.job) == (3, 4, "slurm", "77")
    for bad in ("2/2", "x/2", "1", "0/0"):
        with pytest.raises(ConfigError, match="--shard"):
            resolve_shard(bad, {})
    with pytest.raises(ConfigError, match="SLURM array task 9"):
        resolve_shard(None, {"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "4"})


def test_derived_run_id_is_shared_by_shards_and_new_per_job():
    settings = {"model": "lab", "dataset": "synthetic-davis"}
    a = derived_run_id(settings, Shard(0, 2, "slurm", job="7"))
    assert a == derived_run_id(settings, Shard(1, 2, "slurm", job="7"))
    assert a != derived_run_id(settings, Shard(0, 2, "slurm", job="8"))
    assert a != derived_run_id({**settings, "model": "resnet18"}, Shard(0, 2, "slurm", job="7"))


# --- one process: --json and log lines ---------------------------------------------------------------


def test_json_prints_the_record_and_logs_progress_off_terminal(davis_single):
    run_dir, res = davis_single
    assert json.loads(res.stdout) == json.loads((run_dir / "summary.json").read_text())
    assert "committed" in res.stderr and "frames/s" in res.stderr and "run folder" in res.stderr
    assert not (run_dir / ".partial").exists()
    assert sorted(p.name for p in (run_dir / "sequences").iterdir()) == sorted(json.loads(res.stdout)["dataset"]["sequences"])


# --- torchrun ---------------------------------------------------------------------------------------------


def test_torchrun_davis_equals_one_process(tmp, davis, davis_single):
    argv = readme_command("torchrun --nproc-per-node 8 -m vosbench run")
    argv = retarget(argv, model="lab", dataset="synthetic-davis", run_id="tr", data_root="davis", out="tr", device="cpu")
    argv = [*torchrun(2), *drop_option(argv, "--checkpoint")[argv.index("-m"):]]
    res = run(argv, tmp)
    run_dir = tmp / "tr/synthetic-davis/lab/tr"
    assert_same_record(davis_single[0], run_dir, ("per_object.csv", "per_frame.csv"))
    assert_same_predictions(davis_single[0], run_dir)
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["execution"] == {"shards": 2, "launchers": ["torchrun"], "processes": 2}
    assert res.stdout.count("run folder:") == 1  # rank 0 reports


def test_torchrun_ytvos_equals_one_process(tmp):
    synth(tmp, "ytvos", "ytvos", "--videos", "3", "--frames", "5", "--size", "128x80", "--no-all-frames")
    args = ["run", "--model", "lab", "--dataset", "synthetic-ytvos", "--data-root", "ytvos", "--device", "cpu"]
    run_here(*retarget(args, data_root=str(tmp / "ytvos")), "--out", str(tmp / "yt1"))
    run([*torchrun(2), "-m", "vosbench", *args, "--out", "yt2", "--run-id", "tr"], tmp)
    (one,) = (tmp / "yt1/synthetic-ytvos/lab").iterdir()
    two = tmp / "yt2/synthetic-ytvos/lab/tr"
    assert_same_record(one, two, ("per_object.csv", "per_frame.csv"))
    za, zb = zipfile.ZipFile(one / "submission.zip"), zipfile.ZipFile(two / "submission.zip")
    assert za.namelist() and za.namelist() == zb.namelist()
    for name in za.namelist():
        with za.open(name) as fa, zb.open(name) as fb:
            assert np.array_equal(np.asarray(Image.open(fa)), np.asarray(Image.open(fb))), name


def test_torchrun_jhmdb_equals_one_process(tmp):
    synth(tmp, "jhmdb", "jhmdb", "--videos", "3", "--frames", "6")
    args = ["run", "--model", "lab", "--dataset", "synthetic-jhmdb", "--data-root", "jhmdb", "--device", "cpu"]
    run_here(*retarget(args, data_root=str(tmp / "jhmdb")), "--out", str(tmp / "j1"))
    run([*torchrun(2), "-m", "vosbench", *args, "--out", "j2", "--run-id", "tr"], tmp)
    (one,) = (tmp / "j1/synthetic-jhmdb/lab").iterdir()
    two = tmp / "j2/synthetic-jhmdb/lab/tr"
    assert_same_record(one, two, ("per_joint_pck.csv", "per_video_pck.csv"))
    kps = sorted(p.name for p in (one / "keypoints").iterdir())
    assert len(kps) == 3 and kps == sorted(p.name for p in (two / "keypoints").iterdir())
    for name in kps:
        assert (one / "keypoints" / name).read_bytes() == (two / "keypoints" / name).read_bytes()


# --- independent shards: --shard I/N, a simulated SLURM array, vosbench merge ------------------------------------


def test_independent_shards_then_merge_equal_one_process(tmp, davis, davis_single):
    procs = [
        subprocess.Popen(vosbench(tmp, "run", *DAVIS_ARGS, "--out", "sh", "--run-id", "two", "--shard", f"{i}/2"),
                         env=env(tmp), cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    run_dir = tmp / "sh/synthetic-davis/lab/two"
    assert_same_record(davis_single[0], run_dir, ("per_object.csv", "per_frame.csv"))  # the last shard merged
    before = (run_dir / "per_object.csv").read_bytes()
    (run_dir / "summary.json").unlink()
    res = CliRunner().invoke(cli, ["merge", str(run_dir)])
    assert res.exit_code == 0, res.output
    assert (run_dir / "per_object.csv").read_bytes() == before
    assert_same_record(davis_single[0], run_dir, ("per_object.csv", "per_frame.csv"))
    assert_same_predictions(davis_single[0], run_dir)


def test_readme_sbatch_array_simulated(tmp, davis, davis_single, monkeypatch):
    """The cluster guide's sbatch script's command, as two tasks of a SLURM array (the env SLURM sets;
    the tasks run in this process, from ``tmp``)."""
    script = SECTION.split("#!/bin/bash", 1)[1].split("```", 1)[0]
    assert "#SBATCH" in script and "sbatch --array" in SECTION
    (line,) = [ln for ln in script.splitlines() if ln.startswith("vosbench run")]
    argv = retarget(shlex.split(line), model="lab", dataset="synthetic-davis", run_id="slurm", data_root="davis",
                    out="slurm", device="cpu")
    argv = drop_option(argv, "--checkpoint")
    for k in [k for k in os.environ if k.startswith(("SLURM_", "TORCHELASTIC_"))] + ["RANK", "WORLD_SIZE", "LOCAL_RANK"]:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.chdir(tmp)
    for task in (1, 0):  # one after the other, in any order: the last one writes the record
        for k, v in dict(SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_COUNT="2",
                         SLURM_ARRAY_TASK_MIN="0").items():
            monkeypatch.setenv(k, v)
        run_here(*argv[1:])
    run_dir = tmp / "slurm/synthetic-davis/lab/slurm"
    assert_same_record(davis_single[0], run_dir, ("per_object.csv", "per_frame.csv"))
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["execution"]["shards"] == 2 and rec["execution"]["launchers"] == ["slurm"]


def test_merge_refuses_missing_sequences(tmp, davis):
    res = CliRunner().invoke(cli, ["run", "--model", "lab", "--dataset", "synthetic-davis", "--data-root", str(davis),
                                   "--device", "cpu", "--out", str(tmp / "half"), "--run-id", "half", "--shard", "0/2",
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    assert "written by the last shard" in res.output
    run_dir = tmp / "half/synthetic-davis/lab/half"
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "running"  # no record of the run yet
    res = CliRunner().invoke(cli, ["merge", str(run_dir)])
    assert res.exit_code == 2 and "not committed yet" in res.output
    board = CliRunner().invoke(cli, ["leaderboard", "--runs", str(tmp / "half")])
    assert "running or killed" in board.output and "synthetic-davis/lab/half" in board.output


# --- kill -9, SIGTERM, SIGINT ------------------------------------------------------------------------------


def stop_mid_sequence(proc: subprocess.Popen[str], run_dir_glob: str, tmp: Path) -> Path:
    """Freeze ``proc`` (SIGSTOP) at a moment when at least one sequence is committed and another
    has predictions staged but is not committed; return its run folder."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        for run_dir in tmp.glob(run_dir_glob):
            done = list((run_dir / "sequences").glob("*/result.json"))
            staged = list((run_dir / ".partial").glob("*/*/predictions/*.png"))
            if done and staged:
                proc.send_signal(signal.SIGSTOP)
                done = list((run_dir / "sequences").glob("*/result.json"))
                staged = [p for p in (run_dir / ".partial").glob("*/*/predictions/*.png")
                          if not (run_dir / "sequences" / p.parents[2].name).exists()]
                if done and staged:
                    return run_dir
                proc.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the run never stopped between two frames of a sequence")


@pytest.fixture(scope="module")
def longer(tmp) -> Path:
    """Longer videos, so a run can be caught in the middle of one."""
    return synth(tmp, "davis", "long", "--videos", "3", "--frames", "24", "--size", "160x96")


LONG_ARGS = ("--model", "lab", "--dataset", "synthetic-davis", "--data-root", "long", "--device", "cpu")


@pytest.fixture(scope="module")
def long_single(tmp, longer) -> Path:
    run_here("run", *retarget(list(LONG_ARGS), data_root=str(tmp / "long")), "--out", str(tmp / "long1"))
    (run_dir,) = (tmp / "long1/synthetic-davis/lab").iterdir()
    return run_dir


def test_kill_9_mid_sequence_then_resume_equals_uninterrupted(tmp, long_single):
    proc = subprocess.Popen(vosbench(tmp, "run", *LONG_ARGS, "--out", "k9"), env=env(tmp), cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = stop_mid_sequence(proc, "k9/synthetic-davis/lab/*", tmp)
    proc.kill()
    proc.communicate()
    kept = {p.parent.name: json.loads(p.read_text())["process"] for p in (run_dir / "sequences").glob("*/result.json")}
    (cut,) = {p.parents[2].name for p in (run_dir / ".partial").glob("*/*/predictions/*.png")} - set(kept)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "running"  # the record of its start
    board = CliRunner().invoke(cli, ["leaderboard", "--runs", str(tmp / "k9")])
    assert "running or killed" in board.output

    res = run(vosbench(tmp, "run", "--resume", str(run_dir)), tmp)
    assert "already committed" in res.stderr
    assert_same_record(long_single, run_dir, ("per_object.csv", "per_frame.csv"))
    assert_same_predictions(long_single, run_dir)
    after = {p.parent.name: json.loads(p.read_text())["process"] for p in (run_dir / "sequences").glob("*/result.json")}
    assert {k: after[k] for k in kept} == kept  # committed sequences were kept, not redone
    assert after[cut] not in kept.values()  # the killed sequence was redone by the resumed process


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_run_records_interrupted(tmp, long_single, sig, code):
    out = f"sig{code}"
    proc = subprocess.Popen(vosbench(tmp, "run", *LONG_ARGS, "--out", out), env=env(tmp), cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = stop_mid_sequence(proc, f"{out}/synthetic-davis/lab/*", tmp)
    done = sorted(p.parent.name for p in (run_dir / "sequences").glob("*/result.json"))
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Aborted!" not in err and "Interrupted" in err
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "interrupted" and rec["signal"] == signal.Signals(sig).name
    assert rec["progress"]["sequences_done"] == len(done) and rec["progress"]["sequences_total"] == 3
    rows = (run_dir / "per_object.csv").read_text().splitlines()[1:]
    assert sorted({r.split(",")[0] for r in rows}) == done  # the completed sequences' scores
    ref = {r for r in (long_single / "per_object.csv").read_text().splitlines()[1:] if r.split(",")[0] in done}
    assert set(rows) == ref
    board = CliRunner().invoke(cli, ["leaderboard", "--runs", str(tmp / out)])
    assert re.search(rf"synthetic-davis/lab/\S+ \(interrupted, {len(done)}/3 sequences\)", board.output), board.output


# --- refused resumes, sweeps -------------------------------------------------------------------------------


def test_resume_refuses_another_checkpoint_or_protocol(tmp, davis):
    import torch
    import torchvision

    ckpts = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        ckpts.append(tmp / f"r18-{seed}.pth")
        torch.save(torchvision.models.resnet18().state_dict(), ckpts[-1])
    base = ["run", "--model", "resnet18", "--dataset", "synthetic-davis", "--data-root", str(davis), "--device", "cpu",
            "--sequences", "drift-2", "--out", str(tmp / "refuse"), "--quiet"]
    res = CliRunner().invoke(cli, [*base, "--checkpoint", str(ckpts[0])])
    assert res.exit_code == 0, res.output
    (run_dir,) = (tmp / "refuse/synthetic-davis/resnet18").iterdir()
    res = CliRunner().invoke(cli, ["run", "--resume", str(run_dir), "--checkpoint", str(ckpts[1])])
    assert res.exit_code == 2 and "checkpoint SHA-256" in res.output, res.output
    res = CliRunner().invoke(cli, ["run", "--resume", str(run_dir), "--topk", "5"])
    assert res.exit_code == 2 and "protocol topk: 10 in the run folder, 5 now" in res.output, res.output
    res = CliRunner().invoke(cli, ["run", "--resume", str(run_dir), "--protocol", "dino"])
    assert res.exit_code == 2 and "protocol name" in res.output, res.output
    res = CliRunner().invoke(cli, ["run", "--resume", str(run_dir)])  # its own settings: nothing left to do
    assert res.exit_code == 0, res.output


def test_sharded_sweep_equals_one_process_sweep(tmp, davis):
    common = ["run", "--model", "lab", "--dataset", "synthetic-davis", "--data-root", str(davis), "--device", "cpu",
              "--sweep", "topk=3,10", "--quiet"]
    res = CliRunner().invoke(cli, [*common, "--out", str(tmp / "sw1")])
    assert res.exit_code == 0, res.output
    for i in (0, 1):
        res = CliRunner().invoke(cli, [*common, "--out", str(tmp / "sw2"), "--shard", f"{i}/2", "--run-id", "sw"])
        assert res.exit_code == 0, res.output
    one = sorted((tmp / "sw1/synthetic-davis/lab").iterdir())
    two = sorted((tmp / "sw2/synthetic-davis/lab").iterdir())
    assert [p.name for p in two] == ["sw-p0", "sw-p1"] and len(one) == 2
    for a, b in zip(one, two):
        assert_same_record(a, b, ("per_object.csv", "per_frame.csv"))
        assert json.loads((b / "summary.json").read_text())["sweep"]["id"] == "sw"
