"""Generating on first use (stamp, regeneration, refusal to overwrite foreign folders), the
registered `synthetic-davis` dataset read by the real DAVIS-2017 loader, and `vosbench data synth`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vosbench.datasets.synthetic import DEFAULTS, STAMP, ensure_generated, read_stamp
from vosbench.cli.main import cli
from vosbench.core.errors import ConfigError, DatasetLayoutError
from vosbench.datasets.factory import dataset_root, load_dataset
from vosbench.core.paths import cache_dir

TINY = {"videos": 1, "frames": 6, "size": (96, 64)}


def test_ensure_generated_reuses_regenerates_and_refuses(tmp_path):
    root = tmp_path / "set"
    ensure_generated("davis", root, **TINY)
    jpg = root / "JPEGImages/480p/occlusion-0/00000.jpg"
    stamp_mtime = (root / STAMP).stat().st_mtime_ns
    ensure_generated("davis", root, **TINY)  # same recipe: untouched
    assert (root / STAMP).stat().st_mtime_ns == stamp_mtime
    ensure_generated("davis", root, **{**TINY, "frames": 7})  # new recipe: replaced
    assert len(list(jpg.parent.iterdir())) == 7 and read_stamp(root)["params"]["frames"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no temporary folders left

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetLayoutError, match="refusing to overwrite"):
        ensure_generated("davis", foreign, **TINY)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="frames"):
        ensure_generated("davis", tmp_path / "x", frames=2)
    with pytest.raises(ConfigError, match="unknown synthetic dataset kind"):
        ensure_generated("kinetics", tmp_path / "x")


def test_synthetic_davis_is_read_by_the_davis17_loader():
    from vosbench.datasets.davis import Davis17Dataset

    ds = load_dataset("synthetic-davis")
    assert isinstance(ds, Davis17Dataset)
    assert ds.root == cache_dir() / "synthetic" / "synthetic-davis" == dataset_root("synthetic-davis", None)
    assert ds.sequence_names() == ["occlusion-0", "enter-exit-1", "drift-2"]
    seq = ds.sequence("occlusion-0")
    assert len(seq) == 24 and seq.frames[0] == "00000" and list(seq.annotations) == [0]
    assert seq.read_image(0).shape == (240, 432, 3)
    assert sorted(np.unique(seq.read_annotation(0)).tolist()) == [0, 1, 2, 3]
    # a stale cached set (older defaults) is regenerated with the current ones
    stamp = cache_dir() / "synthetic" / "synthetic-davis" / STAMP
    old = json.loads(stamp.read_text())
    old["params"]["frames"] = 5
    stamp.write_text(json.dumps(old))
    assert len(load_dataset("synthetic-davis").sequence("drift-2")) == 24


def test_data_root_written_by_the_cli_is_used_as_is(tmp_path):
    out = tmp_path / "synth"
    runner = CliRunner()
    args = ["data", "synth", "davis", "--out", str(out), "--videos", "2", "--frames", "6", "--size", "96x64"]
    args += ["--seed", "3"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "wrote synthetic davis (2 videos x 6 frames, 96x64, seed 3)" in res.output
    assert (out / "ImageSets/2017/val.txt").read_text() == "occlusion-0\nenter-exit-1\n"
    res = runner.invoke(cli, args)
    assert res.exit_code == 0 and "already there" in res.output
    ds = load_dataset("synthetic-davis", root=out)
    assert len(ds) == 2 and len(ds.sequence("enter-exit-1")) == 6
    assert read_stamp(out)["params"]["seed"] == 3  # not regenerated with the defaults


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "96by64"], "WIDTHxHEIGHT"),
        (["--size", "32x32"], "out of range"),
        (["--frames", "1"], "frames must be"),
        (["--no-all-frames"], "only applies to ytvos"),
    ],
)
def test_cli_errors(tmp_path, args, message):
    res = CliRunner().invoke(cli, ["data", "synth", "davis", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_cli_kinds_and_help(tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        cli,
        ["data", "synth", "ytvos", "--out", str(tmp_path / "y"), "--videos", "1", "--frames", "3", "--size", "96x64",
         "--no-all-frames"],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "y/valid/meta.json").is_file() and not (tmp_path / "y/all_frames").exists()
    res = runner.invoke(cli, ["data", "synth", "jhmdb", "--out", str(tmp_path / "j"), "--videos", "1", "--frames", "3"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "j/Rename_Images/walk/synth_walk_00").glob("*.png"))) == 5
    res = runner.invoke(cli, ["data", "synth", "--help"])
    assert res.exit_code == 0 and "Examples:" in res.output
    text = " ".join(res.output.split())
    for kind, d in DEFAULTS.items():  # the defaults quoted in --help are the real ones
        assert f"{kind} {d['videos']}" in text and f"{kind} {d['frames']}" in text
        assert f"{d['size'][0]}x{d['size'][1]}" in text
    assert "data" in runner.invoke(cli, ["--help"]).output
