"""The default runs folder is ``runs`` (``vosbench run --out``, ``leaderboard``/``check --runs``);
runs left in ``results/runs``, the default of earlier versions, are still found by the leaderboard
and the check, with a one-line note naming the new folder."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import pytest

from tests.support.cli import invoke
from vosbench.cli.main import cli
from vosbench.core.paths import OLD_RUNS_DIR, RUNS_DIR
from vosbench.runs.config import RunConfig

GOLDEN_RUNS = Path(__file__).resolve().parent / "golden" / "runs"


def test_every_default_names_the_runs_folder():
    assert RUNS_DIR == "runs" and OLD_RUNS_DIR == "results/runs"
    assert RunConfig(model="lab", dataset="synthetic-davis").out == RUNS_DIR
    assert inspect.signature(RunConfig.from_options).parameters["out"].default == RUNS_DIR
    out = {p.name: p for p in cli.get_command(None, "run").params}["out"]  # type: ignore[union-attr]
    assert out.default == RUNS_DIR
    for command in ("leaderboard", "check"):
        res = invoke(command, "--help", code=0, terminal_width=200)
        assert f"[default: {RUNS_DIR}; an existing {OLD_RUNS_DIR}, the old default, is read too]" in res.output


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_leaderboard_reads_the_old_default_folder_and_says_so(cwd):
    shutil.copytree(GOLDEN_RUNS, cwd / OLD_RUNS_DIR)
    expect = invoke("leaderboard", "--runs", GOLDEN_RUNS, "--format", "csv", code=0).stdout
    res = invoke("leaderboard", "--format", "csv", code=0)
    assert res.stdout == expect
    assert res.stderr.splitlines()[0] == (f"note: reading runs from {OLD_RUNS_DIR}, the old default folder; new runs go "
                                          f"to {RUNS_DIR}/ (move them into {RUNS_DIR}/ or pass --runs)")


def test_leaderboard_reads_both_folders_while_the_old_one_exists(cwd):
    shutil.copytree(GOLDEN_RUNS / "davis17-val", cwd / OLD_RUNS_DIR / "davis17-val")
    shutil.copytree(GOLDEN_RUNS / "jhmdb-split1", cwd / RUNS_DIR / "jhmdb-split1")
    res = invoke("leaderboard", "--format", "csv", code=0)
    assert {line.split(",")[0] for line in res.stdout.splitlines()[1:]} == {"davis17-val", "jhmdb-split1"}
    assert res.stderr.startswith(f"note: reading runs from {RUNS_DIR} and {OLD_RUNS_DIR} (the old default folder")


def test_check_finds_the_runs_in_the_old_default_folder(cwd):
    baseline = cwd / "baseline.csv"
    invoke("check", "--baseline", baseline, "--runs", GOLDEN_RUNS, "--update", code=0)
    shutil.copytree(GOLDEN_RUNS, cwd / OLD_RUNS_DIR)
    res = invoke("check", "--baseline", baseline, code=0)
    assert "check passed: 56 metric(s) of 8 row(s)" in res.stdout
    assert res.stderr.startswith(f"note: reading runs from {OLD_RUNS_DIR}, the old default folder")


def test_without_any_runs_folder_the_message_names_the_new_one(cwd):
    res = invoke("leaderboard", code=2)
    assert res.output == f"Error: runs folder {RUNS_DIR} does not exist; pass --runs DIR (the --out folder of " \
                         f"`vosbench run`, default {RUNS_DIR})\n"
