"""--precision means what it says: fp32 is true fp32 (TF32 off for the run, restored after), tf32
is asked for and recorded, half precision only rounds the stored features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from vosbench.cli.main import cli
from vosbench.core.errors import ConfigError
from vosbench.propagation.engine import precision_dtype
from vosbench.propagation.precision import float32_mode, tf32_state


def test_float32_mode_sets_tf32_off_or_on_and_restores():
    before = tf32_state()
    with float32_mode("fp32"):
        assert set(tf32_state().values()) <= {"ieee", False}
    assert tf32_state() == before
    with float32_mode("bf16"):  # half precision matches in float32: TF32 off as well
        assert set(tf32_state().values()) <= {"ieee", False}
    with float32_mode("tf32"):
        assert set(tf32_state().values()) <= {"tf32", True}
    assert tf32_state() == before
    with pytest.raises(RuntimeError):
        with float32_mode("tf32"):
            raise RuntimeError("boom")
    assert tf32_state() == before  # restored on errors too


def test_tf32_is_refused_on_cpu_and_named():
    assert precision_dtype("tf32", torch.device("cuda")) == torch.float32
    with pytest.raises(ConfigError, match="tf32 is a mode of NVIDIA GPUs"):
        precision_dtype("tf32", torch.device("cpu"))
    res = CliRunner().invoke(cli, ["run", "--help"])
    assert "tf32" in res.output


def lab_run(data_root: Path, out: Path) -> tuple[Path, dict]:
    """A CPU fp32 `lab` run of the tiny DAVIS-2017 set: its folder and record."""
    res = CliRunner().invoke(
        cli,
        ["run", "--model", "lab", "--dataset", "davis17-val", "--data-root", str(data_root), "--out", str(out),
         "--device", "cpu", "--no-save-predictions"],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    (run_dir,) = list((out / "davis17-val" / "lab").iterdir())
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def test_cpu_run_records_fp32_switches_and_tf32_runs_are_kept_apart(tiny_davis17, tmp_path):
    from vosbench.records.reader import find_records
    from vosbench.records.labels import identity

    out = tmp_path / "runs"
    run_dir, rec = lab_run(tiny_davis17, out)
    assert rec["precision"] == "fp32" and set(rec["environment"]["tf32"].values()) <= {"ieee", False}
    assert rec["environment"]["propagation"] == "windowed"
    # the same run as if made with --precision tf32 on a GPU: a row of its own
    twin = run_dir.parent / (run_dir.name[:-1] + ("0" if run_dir.name[-1] != "0" else "1"))
    shutil.copytree(run_dir, twin)
    rec["precision"] = "tf32"
    rec["run_id"] = twin.name
    (twin / "summary.json").write_text(json.dumps(rec))
    recs = find_records(out)
    assert len(recs) == 2 and len({identity(r) for r in recs}) == 2
    board = CliRunner().invoke(cli, ["leaderboard", "--runs", str(out)]).output
    assert "precision=tf32" in board


def test_records_from_before_true_fp32_are_kept_apart(tiny_davis17, tmp_path):
    """Records without environment.tf32 were written when GPU fp32 runs let cuDNN convolutions use
    TF32 and half-precision features were matched in half precision: their numbers come from other
    arithmetic, so the leaderboard keeps them apart; CPU fp32 records of then are the same as now."""
    from vosbench.records.reader import find_records
    from vosbench.records.labels import identity

    out = tmp_path / "runs"
    run_dir, rec = lab_run(tiny_davis17, out)

    def twin(suffix: str, precision: str, device: str) -> None:
        old = json.loads(json.dumps(rec))
        del old["environment"]["tf32"]
        old["environment"]["device"] = device
        old["precision"] = precision
        old["run_id"] = run_dir.name + suffix
        (run_dir.parent / old["run_id"]).mkdir()
        shutil.copy(run_dir / "per_object.csv", run_dir.parent / old["run_id"] / "per_object.csv")
        (run_dir.parent / old["run_id"] / "summary.json").write_text(json.dumps(old))

    twin("-oldcpu", "fp32", "cpu")  # same arithmetic as today's CPU fp32
    twin("-oldgpu", "fp32", "cuda:0")
    twin("-oldbf16", "bf16", "cpu")
    recs = {r.run_id: identity(r) for r in find_records(out)}
    assert recs[run_dir.name + "-oldcpu"] == recs[run_dir.name]
    assert len(set(recs.values())) == 3
    board = CliRunner().invoke(cli, ["leaderboard", "--runs", str(out)]).output
    assert "precision=fp32-cudnn-tf32" in board and "precision=bf16-half-products" in board
