"""``vosbench tune``: the refusal of evaluation splits, the selection rules, the record's tuning
block, the leaderboard's marks, resuming an interrupted tune, and the sensitivity plots.

Two generated splits with different motion in feature cells: the train split
(``synthetic-davis-train``, another seed) at 256x192, where objects move several cells per frame,
and the val split (``synthetic-davis``) at 96x64, where they move about one. A radius grid then
has a different best point on each (checked below), so the choice made on train differs from
the one tuning on val would make.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import invoke
from vosbench.core.errors import ConfigError, InputFileError, RunInterrupted
from vosbench.propagation.sweep import parse_sweep
from vosbench.records.reader import load_record, read_summary
from vosbench.records.tuning import choose, tuned_label
from vosbench.records.types import TuningPoint
from vosbench.runs import RunConfig
from vosbench.runs.tune import TuneConfig, tune

VAL = ("--dataset", "synthetic-davis", "--dataset-option", "videos=3", "--dataset-option", "frames=8",
       "--dataset-option", "size=96x64")
TRAIN_OPTS = {"videos": "3", "frames": "8", "size": "256x192"}
TRAIN = ("--tune-on", "synthetic-davis-train", *(x for k, v in TRAIN_OPTS.items() for x in ("--tune-dataset-option", f"{k}={v}")))
ON_VAL = ("--tune-on", "synthetic-davis", "--tune-dataset-option", "videos=3", "--tune-dataset-option", "frames=8",
          "--tune-dataset-option", "size=96x64")
GRID = "radius=2,4"
COMMON = ("--model", "lab", "--device", "cpu", "--workers", "0", "--no-save-predictions", "-q",
          "--sweep", GRID, "--rule", "best")


def stop_in_the_second_sequence(seq: str, done: int, total: int) -> None:
    """A progress callback that stops the run like SIGTERM once the first sequence (8 frames) is
    committed in every grid point."""
    if done == 8 + 3:
        raise RunInterrupted(15, "SIGTERM")


@pytest.fixture(scope="module")
def tunes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tune on the train split (interrupted in its grid, then resumed with its run id) and one
    on the val split (allowed with the flag), same grid."""
    out = tmp_path_factory.mktemp("tune") / "runs"
    cfg = RunConfig.from_options(
        model="lab", dataset="synthetic-davis", dataset_options={"videos": "3", "frames": "8", "size": "96x64"},
        device="cpu", workers=0, save_predictions=False, sweep=parse_sweep([GRID]), out=out, run_id="on-train",
    )
    tc = TuneConfig(run=cfg, tune_on="synthetic-davis-train", tune_dataset_options=dict(TRAIN_OPTS), rule="best")
    with pytest.raises(RunInterrupted):
        tune(tc, stop_in_the_second_sequence)
    grid_dir = out / "synthetic-davis-train/lab"
    docs: dict[str, Any] = {"out": out, "interrupted": {
        p.name: (read_summary(p)["status"], _process(p)) for p in grid_dir.iterdir()
    }}
    docs["evaluated_early"] = (out / "synthetic-davis").exists()
    result = tune(tc)
    assert result.tuning is not None and result.evaluation is not None
    docs["train"] = {"tuning": result.tuning, "run_dir": str(result.evaluation.run_dir),
                     "evaluation": result.evaluation.record}
    docs["resumed"] = {p.name: _process(p) for p in grid_dir.iterdir()}
    # the val tune in two shards: shard 0 does its part of the grid and stops; shard 1 finishes the
    # grid, chooses and does its part of the evaluation; shard 0 again does the rest of it
    val = (*COMMON, *VAL, *ON_VAL, "--allow-test-tuning", "--out", out, "--run-id", "on-val", "--json")
    docs["shards"] = [json.loads(invoke("tune", *val, "--shard", shard, code=0).stdout) for shard in ("0/2", "1/2", "0/2")]
    docs["val"] = docs["shards"][-1]
    return docs


def _process(run_dir: Path) -> str:
    """Which process committed the first sequence of a run folder."""
    return json.loads((run_dir / "sequences/occlusion-0/result.json").read_text())["process"]


def test_train_choice_and_val_best_differ_and_both_are_recorded(tunes):
    train, val = tunes["train"], tunes["val"]
    # what each split says about the radius (fractions of J&F from the tuning runs' records)
    on_train = {p["point"]["radius"]: p["score"] for p in train["tuning"]["points"]}
    on_val = {p["point"]["radius"]: p["score"] for p in val["tuning"]["points"]}
    assert max(on_train, key=on_train.__getitem__) == "4" and max(on_val, key=on_val.__getitem__) == "2"
    assert train["tuning"]["choice"] == {"radius": "4"} and val["tuning"]["choice"] == {"radius": "2"}
    # each tune's evaluation record keeps its choice, and ran with it
    for doc, radius in ((train, 4.0), (val, 2.0)):
        rec = read_summary(Path(doc["run_dir"]))
        assert rec["tuning"] == doc["tuning"] and rec["protocol"]["radius"] == radius
        assert rec["dataset"]["name"] == "synthetic-davis" and "sweep" not in rec
    assert train["tuning"]["allow_test_tuning"] is False and val["tuning"]["allow_test_tuning"] is True
    assert train["tuning"]["tuned_on"]["split_role"] == "train" and val["tuning"]["tuned_on"]["split_role"] == "val"
    # the val-tuned evaluation is the val grid point radius=2 itself: same data, same settings
    val_point = tunes["out"] / "synthetic-davis/lab/on-val-tune-p0"
    assert load_record(val_point).metrics["JF_mean"] == val["evaluation"]["metrics"]["JF_mean"]


def test_a_sharded_tune_chooses_once_the_grid_is_in(tunes):
    first, second, third = tunes["shards"]
    assert first == {"tune_id": "on-val", "status": "waiting for other shards"}
    assert second["tuning"] == third["tuning"] and second["evaluation"]["status"] == "running"
    assert third["evaluation"]["status"] == "complete"
    assert third["evaluation"]["execution"] == {"shards": 2, "launchers": ["cli"], "processes": 2}
    for i in range(2):
        rec = read_summary(tunes["out"] / f"synthetic-davis/lab/on-val-tune-p{i}")
        assert rec["status"] == "complete" and rec["execution"]["shards"] == 2


def test_every_point_score_is_its_tuning_runs_record(tunes):
    t = tunes["train"]["tuning"]
    assert t["grid"] == {"radius": ["2", "4"]} and t["rule"] == "best" and t["metric"] == "JF_mean"
    assert t["tuned_on"]["dataset"] == "synthetic-davis-train" and len(t["tuned_on"]["sequences"]) == 3
    for i, p in enumerate(t["points"]):
        rec = read_summary(tunes["out"] / "synthetic-davis-train/lab" / p["run_id"])
        assert p["run_id"] == f"on-train-tune-p{i}" and rec["sweep"]["point"] == p["point"]
        ci = rec["ci"]["metrics"]["JF_mean"]
        assert (p["score"], p["low"], p["high"]) == (rec["metrics"]["JF_mean"], ci["low"], ci["high"])


def test_tuning_on_evaluation_data_is_refused_without_the_flag(tmp_path):
    cases = [
        (ON_VAL, "--tune-on synthetic-davis: a val split"),
        (("--tune-on", "davis17-val"), "--tune-on davis17-val: a val split"),
        (("--tune-on", "davis17-trainval"), "--tune-on davis17-trainval: a trainval split"),
        # another seed than the catalog's makes another set: its role is no longer known
        (("--tune-on", "synthetic-davis-train", "--tune-dataset-option", "seed=0"), "whose role the catalog does not"),
        ((), "--tune-on synthetic-davis: a val split"),  # the default: the evaluation dataset
    ]
    for where, message in cases:
        res = invoke("tune", *COMMON, *VAL, *where, "--out", tmp_path / "runs", code=2)
        assert res.output.count("\n") == 1 and res.output.startswith("Error: ") and message in res.output
        assert "--allow-test-tuning" in res.output
    assert not (tmp_path / "runs").exists()
    res = invoke("tune", *COMMON, "--dataset", "synthetic-davis-train", "--tune-on", "synthetic-davis-train",
                 "--tune-sequences", "drift-2", "--out", tmp_path / "runs", code=2)
    assert res.output == ("Error: --tune-on synthetic-davis-train is also the evaluation dataset: name disjoint "
                          "--tune-sequences and --sequences, or tune on another split\n")
    res = invoke("tune", *COMMON, *VAL, *TRAIN, "--metric", "J_decay", "--out", tmp_path / "runs", code=2)
    assert res.output.startswith("Error: --metric 'J_decay': choose a score where higher is better: overall,")
    assert res.output.count("\n") == 1
    res = invoke("tune", "--model", "lab", *VAL, *TRAIN, "--out", tmp_path / "runs", code=2)
    assert res.output == ("Error: vosbench tune needs a grid to choose from: --sweep KEY=V1,V2,... "
                          "(e.g. --sweep topk=5,10,20) or --candidates 'KEY=V,KEY=V;KEY=V,KEY=V'\n")


def test_leaderboard_marks_tuned_rows_in_every_format(tunes):
    out = tunes["out"]
    md = invoke("leaderboard", "--runs", out, code=0).stdout
    csv_text = invoke("leaderboard", "--runs", out, "--format", "csv", code=0).stdout
    doc = json.loads(invoke("leaderboard", "--runs", out, "--format", "json", code=0).stdout)
    label_train = tuned_label(tunes["train"]["tuning"])
    label_val = tuned_label(tunes["val"]["tuning"])
    assert label_train == "synthetic-davis-train (3 seq.), best on JF_mean over 2 points"
    assert label_val.startswith("TUNED ON EVALUATION DATA (val split, --allow-test-tuning): synthetic-davis (3 seq.)")
    assert "| Tuned on |" in md and f"| {label_train} |" in md and f"| {label_val} |" in md
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    tuned = {r["run_id"]: r["tuned_on"] for r in rows}
    assert tuned["on-train"] == label_train and tuned["on-val"] == label_val and tuned["on-train-tune-p0"] == ""
    assert {r["run_id"]: r["tuned_on"] for r in doc["rows"]} == tuned
    invoke("leaderboard", "--runs", out, "--format", "html", "--out", out.parent / "site", code=0)
    page = (out.parent / "site" / "index.html").read_text(encoding="utf-8")
    assert "Tuned on</button>" in page and f">{html.escape(label_train)}</td>" in page
    assert f">{html.escape(label_val)}</td>" in page and "crw v1 (tuned on eval data)" in page
    protocol = {r["run_id"]: r["protocol"] for r in rows}
    assert protocol["on-train"] == "crw v1 (tuned)" and protocol["on-val"] == "crw v1 (tuned on eval data)"
    assert protocol["on-val-tune-p0"] == "crw v1"  # same settings and data as on-val, given by hand: its own row
    assert {r["run_id"] for r in rows} >= {"on-val", "on-val-tune-p0"}
    # a baseline with tuned rows reads back and matches them
    for fmt in ("csv", "json"):
        base = out.parent / f"baseline.{fmt}"
        invoke("check", "--baseline", base, "--runs", out, "--update", code=0)
        invoke("check", "--baseline", base, "--runs", out, code=0)


# --- the rules on hand-made score tables -----------------------------------------------------------


def _points(rows: list[tuple[float | None, float | None, float | None]]) -> list[TuningPoint]:
    return [{"index": i, "point": {"k": str(i)}, "run_id": f"r{i}", "score": s, "low": lo, "high": hi}
            for i, (s, lo, hi) in enumerate(rows)]


def _restated(rows: list[tuple[float | None, float | None, float | None]], rule: str) -> tuple[int, int]:
    """The rules written out naively: scan for the highest mean (first wins ties); then, for
    simplest-within-ci, the first point whose mean is at least the best one's lower bound."""
    best = None
    for i, (s, _, _) in enumerate(rows):
        if s is not None and not math.isnan(s) and (best is None or s > rows[best][0]):
            best = i
    assert best is not None
    if rule == "best":
        return best, best
    low = rows[best][1]
    for i, (s, _, _) in enumerate(rows):
        if s is not None and not math.isnan(s) and s >= low:
            return best, i
    raise AssertionError("the best point always qualifies")


TABLES = [
    [(0.60, 0.55, 0.65), (0.70, 0.66, 0.74), (0.69, 0.64, 0.73)],  # 2 is within 1's interval, 0 is not
    [(0.60, 0.50, 0.70), (0.70, 0.65, 0.75), (0.69, 0.64, 0.73)],  # 0 below the best's low: still 1
    [(0.66, 0.60, 0.70), (0.70, 0.65, 0.75), (0.65, 0.60, 0.70)],  # 0 within: the simplest wins
    [(0.70, 0.60, 0.80), (0.70, 0.61, 0.79), (0.50, 0.40, 0.60)],  # a tie for best: the simpler one
    [(None, None, None), (0.40, 0.30, 0.50), (math.nan, None, None), (0.45, 0.35, 0.55)],  # unscored points
    [(0.65, 0.60, 0.70), (0.70, 0.65, 0.75)],  # exactly on the lower bound counts as within
]


@pytest.mark.parametrize("rows", TABLES)
@pytest.mark.parametrize("rule", ["best", "simplest-within-ci"])
def test_rules_on_hand_made_tables(rows, rule):
    assert choose(_points(rows), rule) == _restated(rows, rule)


def test_rules_by_hand():
    assert choose(_points(TABLES[0]), "simplest-within-ci") == (1, 1)
    assert choose(_points(TABLES[2]), "simplest-within-ci") == (1, 0)
    assert choose(_points(TABLES[3]), "best") == (0, 0)
    assert choose(_points(TABLES[5]), "simplest-within-ci") == (1, 0)
    with pytest.raises(ConfigError, match="needs the best point's confidence interval"):
        choose(_points([(0.5, None, None), (0.6, None, None)]), "simplest-within-ci")
    with pytest.raises(ConfigError, match="no grid point has a score"):
        choose(_points([(None, None, None)]), "best")
    with pytest.raises(ConfigError, match="unknown selection rule"):
        choose(_points(TABLES[0]), "oracle")


def test_a_broken_tuning_block_is_refused_and_old_records_still_read(tunes, tmp_path):
    src = Path(tunes["train"]["run_dir"]) / "summary.json"
    rec = json.loads(src.read_text())
    old = dict(rec)
    del old["tuning"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old/summary.json").write_text(json.dumps(old))
    assert load_record(tmp_path / "old").tuning is None
    for change, message in (
        (lambda t: t.update(chosen=7), "tuning.chosen is not an index"),
        (lambda t: t.update(choice={"radius": "1"}), "tuning.choice differs"),
        (lambda t: t["points"][0].update(score=1.5), "fractions in [0, 1]"),
        (lambda t: t.update(rule="oracle"), "tuning.rule 'oracle'"),
    ):
        broken = json.loads(src.read_text())
        change(broken["tuning"])
        (tmp_path / "b").mkdir(exist_ok=True)
        (tmp_path / "b/summary.json").write_text(json.dumps(broken))
        with pytest.raises(InputFileError, match=re.escape(message)):
            load_record(tmp_path / "b")


# --- resume, sensitivity ---------------------------------------------------------------------------


def test_an_interrupted_tune_resumes_with_its_run_id(tunes):
    interrupted = tunes["interrupted"]
    assert sorted(interrupted) == ["on-train-tune-p0", "on-train-tune-p1"]
    assert {status for status, _ in interrupted.values()} == {"interrupted"}
    assert not tunes["evaluated_early"]  # no evaluation before the whole grid is in
    # committed sequences were kept, not redone, and the tune went on to its choice and evaluation
    assert tunes["resumed"] == {name: process for name, (_, process) in interrupted.items()}
    assert read_summary(tunes["train"]["run_dir"])["status"] == "complete"


def test_the_same_run_id_with_another_rule_is_refused(tunes):
    # the grid is in (nothing to redo); the evaluation folder holds a choice made by another rule
    res = invoke("tune", *COMMON[:-2], "--rule", "simplest-within-ci", *VAL, *ON_VAL, "--allow-test-tuning",
                 "--out", tunes["out"], "--run-id", "on-val", code=2)
    assert "holds a run with other settings" in res.output and "tuning: " in res.output
    assert read_summary(Path(tunes["val"]["run_dir"]))["tuning"]["rule"] == "best"


def test_sensitivity_plot_draws_the_records_numbers(tunes, tmp_path, monkeypatch):
    import vosbench.results.report_sensitivity as sens_mod
    from vosbench.results.report import ReportOptions, make_report

    drawn: dict[str, list[sens_mod.Series]] = {}
    original = sens_mod.plot_sensitivity

    def spy(setting, series, sens, path):
        drawn[setting] = series
        return original(setting, series, sens, path)

    monkeypatch.setattr(sens_mod, "plot_sensitivity", spy)
    rep = make_report(tunes["train"]["run_dir"], options=ReportOptions(out=tmp_path / "rep", video="none"))
    png = tmp_path / "rep/sensitivity_radius.png"
    assert png in rep.images and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'src="sensitivity_radius.png"' in rep.html.read_text()
    (line,) = drawn["radius"]
    points = tunes["train"]["tuning"]["points"]
    assert line.x == ["2", "4"]
    assert line.y == [100 * p["score"] for p in points]
    assert line.low == [100 * p["low"] for p in points] and line.high == [100 * p["high"] for p in points]

    # a grid point's own folder: the sweep's records, read from the sibling folders
    drawn.clear()
    text, images, notes = sens_mod.sensitivity_section(load_record(tunes["out"] / "synthetic-davis/lab/on-val-tune-p1"),
                                                       tmp_path / "r2")
    assert images == [tmp_path / "r2/sensitivity_radius.png"] and not notes and "<h2>Sensitivity</h2>" in text
    (line,) = drawn["radius"]
    assert line.y == [100 * p["score"] for p in tunes["val"]["tuning"]["points"]]


def test_the_generated_train_split_is_another_seed_listed_as_train(tunes):
    from vosbench.core.registry import datasets
    from vosbench.datasets.synthetic import read_stamp

    root = Path(tunes["train"]["tuning"]["tuned_on"]["root"])
    stamp = read_stamp(root)
    assert stamp["params"]["seed"] == 1 and stamp["params"]["split"] == "train"
    names = (root / "ImageSets/2017/train.txt").read_text().split()
    assert names == tunes["train"]["tuning"]["tuned_on"]["sequences"]
    assert (root / "ImageSets/2017/val.txt").read_text() == ""
    roles = {name: datasets.get(name).split_role for name in ("synthetic-davis-train", "synthetic-davis", "davis17-train",
                                                             "davis17-val", "davis17-trainval", "davis17-test-dev")}
    assert roles == {"synthetic-davis-train": "train", "synthetic-davis": "val", "davis17-train": "train",
                     "davis17-val": "val", "davis17-trainval": "trainval", "davis17-test-dev": "test"}


def test_davis17_train_reads_the_train_list(tiny_davis17):
    from vosbench.datasets.factory import load_dataset

    (tiny_davis17 / "ImageSets/2017/train.txt").write_text("seq1\n")
    (tiny_davis17 / "ImageSets/2017/val.txt").write_text("seq0\n")
    ds = load_dataset("davis17-train", tiny_davis17)
    assert ds.select([]) == ["seq1"] and ds.describe()["split"] == "train"
    assert load_dataset("davis17-val", tiny_davis17).select([]) == ["seq0"]
