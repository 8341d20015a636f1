"""Unchecked values (hostile inputs, round 2): every config, command-line, environment and replay
value is typed and range-checked before any run folder is made. Each bad value ends with exit
code 2 and one line naming it, never a traceback, and leaves ``--out`` empty."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Callable

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import vosbench
from vosbench.cli.main import cli
from vosbench.core.errors import ConfigError, RunInterrupted
from vosbench.core.version import __version__
from vosbench.propagation.sweep import MAX_GRID_POINTS

RUN = ["run", "--model", "identity", "--sequences", "drift-2", "--device", "cpu"]


def record(**changes: object) -> dict:
    """A minimal run record that replays (this version, identity on one generated sequence)."""
    rec: dict = {
        "model": {"name": "identity", "options": {}, "checkpoint": None, "checkpoint_sha256": None},
        "dataset": {"name": "synthetic-davis", "sequences": ["drift-2"], "root": None, "task": "vos"},
        "protocol": {"name": "crw"},
        "run_config": {"batch_size": 4, "save_predictions": True, "dataset_options": {}},
        "environment": {"vosbench": __version__},
        "precision": "fp32",
    }
    for path, value in changes.items():
        section, _, key = path.partition("__")
        if key:
            rec[section][key] = value
        else:
            rec[section] = value
    return rec


def toml(text: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        f = tmp / "run.toml"
        device = "" if text.startswith("device") else 'device = "cpu"\n'
        f.write_text('model = "identity"\nsequences = "drift-2"\n' + device + text)
        return ["run", "--config", str(f)]

    return make


def replay(**changes: object) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        f = tmp / "summary.json"
        f.write_text(json.dumps(record(**changes)))
        return ["run", "--replay", str(f)]

    return make


def flags(*extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [*RUN, *extra]


def fifo(option: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        os.mkfifo(tmp / "fifo")
        return ["run", option, str(tmp / "fifo")]

    return make


def deep_toml(tmp: Path) -> list[str]:
    f = tmp / "deep.toml"
    f.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    return ["run", "--config", str(f)]


def missing_root(tmp: Path) -> list[str]:
    return [*RUN, "--data-root", str(tmp / "not-there")]


#: (case, argv maker, environment, the first line of the output starts with / contains)
CASES: list[tuple[str, Callable[[Path], list[str]], dict[str, str], str]] = [
    ("--radius inf", flags("--radius", "inf"), {}, "protocol setting radius=inf is invalid: must be a finite number"),
    ("radius = inf", toml("radius = inf\n"), {}, "protocol setting radius=inf is invalid"),
    ("TOML nested 100,000 deep", deep_toml, {}, "nested too deeply"),
    ("device = cuda:abc", toml('device = "cuda:abc"\n'), {}, "--device 'cuda:abc': expected auto, cpu, cuda or cuda:N"),
    ("device = cuda:0 without CUDA", toml('device = "cuda:0"\n'), {"NO_CUDA": "1"}, "--device cuda:0: no CUDA device"),
    ("TOML shard = 5", toml("shard = 5\n"), {}, "'shard' must be a string \"I/N\""),
    ("TOML run_id = 5", toml("run_id = 5\n"), {}, "run.toml: --run-id 5: expected a plain folder name"),
    ("TOML run_id = true", toml("run_id = true\n"), {}, "run.toml: --run-id True: expected a plain folder name"),
    ("--config /dev/zero", lambda tmp: ["run", "--config", "/dev/zero"], {}, "/dev/zero: not a regular file"),
    ("--context 1000000000", flags("--context", "1000000000"), {}, "must be from 0 to 1000 previous frames"),
    ("--shard 0/1000000000", flags("--shard", "0/1000000000"), {}, "--shard 0/1000000000: at most 100000 shards"),
    ("RANK=1 WORLD_SIZE=2 without MASTER_ADDR", flags(), {"RANK": "1", "WORLD_SIZE": "2"}, "$MASTER_ADDR and $MASTER_PORT not"),
    ("replay: protocol = 5", replay(protocol=5), {}, "protocol must be a table, got 5"),
    ("replay: model options = 5", replay(model__options=5), {}, "model.options must be a table, got 5"),
    ("replay: checkpoint = 5", replay(model__checkpoint=5), {}, "model.checkpoint has the wrong type (5)"),
    ("replay: batch size = 'x'", replay(run_config__batch_size="x"), {}, "'batch_size' must be an integer from 1 to 256"),
    ("replay: dataset options = 5", replay(run_config__dataset_options=5), {}, "run_config.dataset_options must be a table"),
    ("replay: environment = 5", replay(environment=5), {}, "environment must be a table, got 5"),
    ("replay: batch_size = -3", replay(run_config__batch_size=-3), {}, "'batch_size' must be an integer from 1 to 256, got -3"),
    ("replay: save_predictions = 'no'", replay(run_config__save_predictions="no"), {}, "'save_predictions' must be true or false"),
    ("FIFO as --replay", fifo("--replay"), {}, "fifo: not a regular file"),
    ("FIFO as --config", fifo("--config"), {}, "fifo: not a regular file"),
    ("--temperature inf", flags("--temperature", "inf"), {}, "temperature=inf is invalid: must be from 1e-06 to 1e+06"),
    ("--temperature 1e-50", flags("--temperature", "1e-50"), {}, "temperature=1e-50 is invalid: must be from 1e-06"),
    ("missing --data-root of a generated set", missing_root, {}, "no such folder. Dataset folders are only read"),
    ("--run-id with a newline", flags("--run-id", "a\nb"), {}, "control or invisible character U+000A"),
    ("--run-id of 252 bytes", flags("--run-id", "r" * 252), {}, "longer than 200 bytes"),
    ("--sweep of 90,000 points", flags("--sweep", "topk=" + ",".join(map(str, range(1, 301))),
                                       "--sweep", "context=" + ",".join(map(str, range(1, 301)))), {},
     f"90000 grid points (one run folder each); at most {MAX_GRID_POINTS} without --large-grid"),
]


@pytest.mark.parametrize("case, make, env, first", CASES, ids=[c[0] for c in CASES])
def test_bad_value_exits_2_with_one_line_and_no_run_folder(tmp_path, monkeypatch, case, make, env, first):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "SLURM_ARRAY_TASK_COUNT"):
        monkeypatch.delenv(key, raising=False)
    if env.pop("NO_CUDA", None):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "runs"
    res = CliRunner().invoke(cli, [*make(tmp_path), "--out", str(out)], env=env)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2, (case, res.output, res.exc_info)
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    assert lines and lines[0].startswith("Error: ") and first in lines[0], (case, lines)
    assert not out.exists() or not any(out.iterdir()), f"{case}: a run folder was made"
    assert not (tmp_path / "not-there").exists()


def test_forced_replay_names_what_the_command_line_changes(tmp_path):
    f = tmp_path / "summary.json"
    f.write_text(json.dumps(record(environment={"vosbench": "0.0.0"})))
    res = CliRunner().invoke(cli, ["run", "--replay", str(f), "--force", "--topk", "5", "--out", str(tmp_path / "o"),
                                   "--data-root", str(tmp_path / "not-there")])
    assert res.exit_code == 2  # stopped by the missing --data-root, after the replay's messages
    assert "warning: --force: protocol setting topk: the preset default -> 5" in res.output
    assert "with 1 change(s) from the command line" in res.output and "every setting pinned" not in res.output


# --- the Python API: names are safe single folder names (medium 4) --------------------------------
class Plain(nn.Module):
    stride = 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x, 8, ceil_mode=True)


@pytest.mark.parametrize("name", ["../../x", "a/b", "a\nb", "..", ""])
def test_api_name_that_is_not_one_folder_name_is_refused(tmp_path, name):
    out = tmp_path / "deep" / "out"
    with pytest.raises(ConfigError, match="not usable as a run folder name"):
        vosbench.run(Plain(), "synthetic-davis", name=name, out=str(out), device="cpu", sequences="drift-2")
    assert not out.exists() and sorted(p.name for p in tmp_path.rglob("*")) == []


def test_api_class_whose_name_escapes_is_refused(tmp_path):
    escaping = type("../../x", (Plain,), {})
    with pytest.raises(ConfigError, match="the class name of"):
        vosbench.run(escaping(), "synthetic-davis", out=str(tmp_path / "out"), device="cpu")
    assert list(tmp_path.iterdir()) == []


# --- sweeps: bounded grids, a set-up that completes or records what it made (medium 6) ------------
def test_large_grid_needs_the_flag(tmp_path):
    from vosbench.runs.config import RunConfig

    sweep = {"topk": list(range(1, 41)), "context": list(range(1, 31))}  # 1,200 points
    with pytest.raises(ConfigError, match="1200 grid points"):
        RunConfig.from_options(sweep=sweep)
    assert len(RunConfig.from_options(sweep=sweep, large_grid=True).sweep) == 2


def test_sweep_set_up_stopped_half_way_records_every_folder_it_made(tmp_path, monkeypatch):
    from vosbench.runs import lifecycle

    made: list[Path] = []
    real_init = lifecycle.RunFolder.__init__

    def init(self, *args, **kwargs):  # SIGTERM while the third grid point's folder is being made
        if len(made) == 2:
            raise RunInterrupted(15, "SIGTERM")
        real_init(self, *args, **kwargs)
        made.append(self.run_dir)

    monkeypatch.setattr(lifecycle.RunFolder, "__init__", init)
    res = CliRunner().invoke(cli, [*RUN, "--sweep", "topk=1,2,3,4", "--out", str(tmp_path / "runs")])
    assert res.exit_code == 143, res.output
    assert len(made) == 2
    for run_dir in made:
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "interrupted", summary["status"]


# --- data check and data download -------------------------------------------------------------------
def _synth(tmp_path: Path) -> Path:
    res = CliRunner().invoke(cli, ["data", "synth", "davis", "--out", str(tmp_path / "d"), "--videos", "1",
                                   "--frames", "5", "--size", "64x64"])
    assert res.exit_code == 0, res.output
    return tmp_path / "d"


def test_data_check_finds_a_truncated_jpeg_and_does_not_wait_on_a_fifo(tmp_path):
    root = _synth(tmp_path)
    frames = sorted((root / "JPEGImages/480p").rglob("*.jpg"))
    data = frames[1].read_bytes()
    frames[1].write_bytes(data[: len(data) // 3])
    frames[2].unlink()
    os.mkfifo(frames[2])
    assert stat.S_ISFIFO(frames[2].stat().st_mode)
    res = CliRunner().invoke(cli, ["data", "check", "synthetic-davis", "--data-root", str(root)])
    assert res.exit_code == 2, res.output
    assert f"{frames[1]}: incomplete" in res.output and f"{frames[2]}: not a regular file" in res.output


def test_model_names_with_path_separators_fold_into_one_folder_name():
    from vosbench.core.errors import ConfigError
    from vosbench.core.safepath import folder_name

    assert folder_name("hf:facebook/dinov2-small", "model") == "hf:facebook--dinov2-small"
    assert folder_name("hf:../../x", "model") == "hf:..--..--x"  # one component: cannot climb out of --out
    assert folder_name("resnet18", "model") == "resnet18"  # names without separators are unchanged
    for bad in ("..", "a\nb", "x" * 300):
        with pytest.raises(ConfigError, match="cannot name a run folder"):
            folder_name(bad, "model")
