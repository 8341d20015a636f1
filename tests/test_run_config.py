"""`vosbench run --config FILE.toml` and `vosbench run --replay RUN/summary.json`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from vosbench.cli.main import cli
from vosbench.core.version import __version__


def summaries(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("summary.json"))]


def test_config_file_with_command_line_overrides(tmp_path):
    cfg = tmp_path / "exp" / "run.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        'model = "identity"\ndataset = "synthetic-davis"\nsequences = ["drift-2"]\ndevice = "cpu"\n'
        'out = "runs"\nsave-predictions = false\ntopk = 3\n\n[protocol]\npreset = "crw"\nradius = 5\nnorm_mask = true\n'
    )
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg), "--topk", "7", "--set", "context=4"])
    assert r.exit_code == 0, r.output
    (rec,) = summaries(tmp_path / "exp" / "runs")  # relative paths are relative to the file
    p = rec["protocol"]
    assert (p["topk"], p["radius"], p["norm_mask"], p["context"]) == (7, 5.0, True, 4)
    assert rec["dataset"]["sequences"] == ["drift-2"] and rec["model"]["name"] == "identity"
    assert rec["run_config"]["save_predictions"] is False
    assert not list((tmp_path / "exp" / "runs").rglob("*.png"))


def test_config_file_errors_name_the_file_and_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('model = "identity"\ntopkk = 3\n')
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert r.exit_code == 2 and str(cfg) in r.output and "unknown key 'topkk'" in r.output
    cfg.write_text('model = "identity"\n[protocol]\ncontext = "many"\n')
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "context" in r.output
    cfg.write_text("model = \n")
    r = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert r.exit_code == 2 and "not valid TOML" in r.output
    r = CliRunner().invoke(cli, ["run", "--config", str(tmp_path / "missing.toml")])
    assert r.exit_code == 2 and "config file not found" in r.output


def test_replay_gives_the_same_numbers_and_refuses_differences(tmp_path):
    first = tmp_path / "a"
    r = CliRunner().invoke(
        cli,
        ["run", "--model", "lab", "--dataset", "synthetic-davis", "--sequences", "drift-2", "--device", "cpu",
         "--topk", "4", "--radius", "none", "--no-save-predictions", "--out", str(first)],
    )
    assert r.exit_code == 0, r.output
    (summary,) = sorted(first.rglob("summary.json"))
    r = CliRunner().invoke(cli, ["run", "--replay", str(summary), "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    (orig,), (again,) = summaries(first), summaries(tmp_path / "b")
    assert again["metrics"] == orig["metrics"]
    assert again["protocol"] == orig["protocol"] and again["protocol"]["radius"] is None
    assert again["dataset"]["sequences"] == ["drift-2"] and again["model"]["name"] == "lab"

    # a protocol change on the command line would not be a replay
    r = CliRunner().invoke(cli, ["run", "--replay", str(summary), "--topk", "9", "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "would change what is replayed" in r.output

    # another vosbench version, a checkpoint whose hash changed: refused with the difference named
    rec = json.loads(summary.read_text())
    rec["environment"]["vosbench"] = "0.0.1"
    ckpt = tmp_path / "w.pth"
    ckpt.write_bytes(b"changed weights")
    rec["model"]["checkpoint"], rec["model"]["checkpoint_sha256"] = str(ckpt), "0" * 64
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(rec))
    r = CliRunner().invoke(cli, ["run", "--replay", str(edited), "--out", str(tmp_path / "d")])
    assert r.exit_code == 2
    assert f"vosbench version: the run was made with 0.0.1, this is {__version__}" in r.output
    assert f"checkpoint: {ckpt} now has SHA-256" in r.output and "--force" in r.output
    assert not (tmp_path / "d").exists()


def test_replay_force_runs_despite_a_version_difference(tmp_path):
    first = tmp_path / "a"
    r = CliRunner().invoke(cli, ["run", "--model", "identity", "--sequences", "drift-2", "--device", "cpu",
                                 "--no-save-predictions", "--out", str(first)])
    assert r.exit_code == 0, r.output
    (summary,) = sorted(first.rglob("summary.json"))
    rec = json.loads(summary.read_text())
    rec["environment"]["vosbench"] = "0.0.1"
    summary.write_text(json.dumps(rec))
    r = CliRunner().invoke(cli, ["run", "--replay", str(summary.parent), "--force", "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    assert "replaying despite a difference: vosbench version" in r.output
    assert summaries(tmp_path / "b")[0]["metrics"] == rec["metrics"]
