"""``vosbench tune --candidates``: choosing from an explicit list of settings, and ``vosbench.tune``.

The list runs as one sweep on the tuning split (each candidate a grid point sharing the features
and the search), the rule ranks by list order, the record keeps the list as given; an
interrupted list tune resumes with its run id; malformed lists stop with one line.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch
from torch import nn

import vosbench
from tests.support.cli import invoke
from vosbench.core.errors import ConfigError, InputFileError, RunInterrupted
from vosbench.records.reader import load_record, read_summary
from vosbench.records.tuning import SIMPLICITY_LIST

SIZE = {"videos": "2", "frames": "6", "size": "96x64"}
TRAIN = {"videos": "3", "frames": "6", "size": "96x64"}
#: given simplest first; the middle one differs from the others in both settings
CANDIDATES = "topk=5,radius=2;topk=10,radius=4;topk=5,radius=none"
LIST = [{"topk": "5", "radius": "2"}, {"topk": "10", "radius": "4"}, {"topk": "5", "radius": "none"}]


class Pooled(nn.Module):
    """A tiny encoder (RGB averaged over 8x8 cells) that counts the 96x64 frames it encodes (not
    the shape probe ``vosbench.tune`` makes)."""

    stride = 8

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.frames += x.shape[0] if tuple(x.shape[-2:]) == (64, 96) else 0
        return nn.functional.avg_pool2d(x, 8, ceil_mode=True)


def stop_after_first_sequence(seq: str, done: int, total: int) -> None:
    """Stop like SIGTERM after the first tuning sequence (6 frames) went through every candidate."""
    if done == 6 + 1:
        raise RunInterrupted(15, "SIGTERM")


def _restated(points: list[dict[str, Any]], rule: str) -> int:
    """simplest-within-ci on a list, written out: the best mean (first in the list on ties), then
    the first candidate in the list whose mean reaches the best one's lower bound."""
    scores = [p["score"] for p in points]
    best = 0
    for i, s in enumerate(scores):
        if s > scores[best]:
            best = i
    if rule == "best":
        return best
    for i, s in enumerate(scores):
        if s >= points[best]["low"]:
            return i
    raise AssertionError("the best candidate always qualifies")


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A list tune through ``vosbench.tune`` with a module encoder: interrupted on the tuning
    split, then resumed with its run id."""
    out = tmp_path_factory.mktemp("cand") / "runs"
    enc = Pooled()
    kw: dict[str, Any] = dict(
        tune_on="synthetic-davis-train", tune_dataset_options=TRAIN, candidates=CANDIDATES, dataset_options=SIZE,
        device="cpu", workers=0, save_predictions=False, out=out, run_id="lt", name="pooled",
    )
    with pytest.raises(RunInterrupted):
        vosbench.tune(enc, progress=stop_after_first_sequence, **kw)
    interrupted = {p.name: read_summary(p)["status"] for p in (out / "synthetic-davis-train/pooled").iterdir()}
    enc.frames = 0
    result = vosbench.tune(enc, **kw)
    return {"out": out, "result": result, "interrupted": interrupted, "frames": enc.frames}


def test_a_list_tune_chooses_by_list_order_and_keeps_the_list(listed):
    res = listed["result"]
    t = res.tuning
    assert t["candidates"] == LIST and [p["point"] for p in t["points"]] == LIST
    assert t["grid"] == {"topk": ["5", "10"], "radius": ["2", "4", "none"]}
    assert t["simplicity"] == SIMPLICITY_LIST and t["rule"] == "simplest-within-ci"
    assert t["chosen"] == _restated(t["points"], "simplest-within-ci") and t["best"] == _restated(t["points"], "best")
    assert (t["best"], t["chosen"]) == (2, 0)  # on this data: the last candidate is best, the first is within its CI
    assert res.choice == LIST[t["chosen"]]
    rec = read_summary(res.evaluation.run_dir)
    assert rec["tuning"] == t and "sweep" not in rec and rec["model"]["name"] == "pooled"
    radius = LIST[t["chosen"]]["radius"]
    assert rec["protocol"]["topk"] == int(LIST[t["chosen"]]["topk"])
    assert rec["protocol"]["radius"] == (None if radius == "none" else float(radius))
    # the points table is the record's
    assert list(res.points["topk"]) == ["5", "10", "5"] and list(res.points["chosen"]) == [
        i == t["chosen"] for i in range(3)]
    assert list(res.points["score"]) == [p["score"] for p in t["points"]]
    assert res.evaluation.metrics["JF_mean"] == rec["metrics"]["JF_mean"]
    assert math.isclose(res.evaluation.per_sequence["JF_mean"].mean(), rec["metrics"]["JF_mean"], abs_tol=0.2)


def test_the_candidates_run_as_one_sweep_sharing_the_features(listed):
    out = listed["out"]
    for i, cand in enumerate(LIST):
        rec = read_summary(out / f"synthetic-davis-train/pooled/lt-tune-p{i}")
        assert rec["sweep"]["point"] == cand and rec["sweep"]["id"] == "lt-tune" and rec["sweep"]["size"] == 3
        assert rec["status"] == "complete"
    # resumed: the 2 tuning sequences left, once for all three candidates, then 2 evaluation videos
    assert listed["frames"] == 2 * 6 + 2 * 6


def test_an_interrupted_list_tune_resumes(listed):
    assert listed["interrupted"] == {f"lt-tune-p{i}": "interrupted" for i in range(3)}
    assert listed["result"].tune_id == "lt" and read_summary(listed["result"].evaluation.run_dir)["status"] == "complete"


def test_the_best_rule_on_a_list(tmp_path):
    res = vosbench.tune("lab", tune_on="synthetic-davis-train", tune_dataset_options=TRAIN, dataset_options=SIZE,
                        candidates=[{"radius": 4}, {"radius": None}, {"radius": 2}], rule="best",
                        device="cpu", workers=0, save_predictions=False, out=tmp_path / "runs", run_id="b")
    t = res.tuning
    assert t["candidates"] == [{"radius": "4"}, {"radius": "none"}, {"radius": "2"}]
    assert t["chosen"] == t["best"] == _restated(t["points"], "best")


ARGS = ("--model", "lab", "--device", "cpu", "--dataset", "synthetic-davis", "--tune-on", "synthetic-davis-train")


@pytest.mark.parametrize("extra, message", [
    (("--candidates", "topk=5;topk=10;topk=05"), "--candidates: candidate 3 repeats candidate 1 (topk=05)"),
    (("--candidates", "topk=5,radius=4;radius=4,topk=5"), "--candidates: candidate 2 repeats candidate 1"),
    (("--candidates", "topk=5;tpk=10"), "tpk"),
    (("--candidates", "topk=5,size=96;topk=10,size=96"), "--candidates size: size changes the features"),
    (("--candidates", " ; "), "--candidates: the list is empty"),
    (("--candidates", "topk=5;topk=10,radius=4"), "candidate 2 sets radius, topk but candidate 1 sets topk"),
    (("--candidates", "topk=5,topk=6"), "--candidates: candidate 1 sets topk twice"),
    (("--candidates", "topk"), "--candidates: candidate 1 'topk': expected KEY=VALUE,KEY=VALUE"),
    (("--candidates", "topk=5;topk=10", "--sweep", "radius=2,4"), "give either a grid or a list of candidates"),
    (("--candidates", "topk=5;topk=10", "--topk", "5"), "topk: given both as an override and in --candidates"),
])
def test_malformed_lists_are_refused_with_one_line(tmp_path, extra, message):
    res = invoke("tune", *ARGS, *extra, "--out", tmp_path / "runs", code=2)
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1 and message in res.output
    assert not (tmp_path / "runs").exists()


def test_the_api_refuses_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="the list is empty"):
        vosbench.tune("lab", tune_on="synthetic-davis-train", candidates=[], out=tmp_path)
    with pytest.raises(ConfigError, match="needs a grid to choose from"):
        vosbench.tune("lab", tune_on="synthetic-davis-train", out=tmp_path)
    with pytest.raises(ConfigError, match="unknown setting"):
        vosbench.tune("lab", tune_on="synthetic-davis-train", sweep={"topk": [5, 10]}, tune_sequence="a", out=tmp_path)
    with pytest.raises(ConfigError, match="a val split"):
        vosbench.tune("lab", tune_on="synthetic-davis", sweep={"topk": [5, 10]}, out=tmp_path)
    assert not any(tmp_path.iterdir())


TUNE_FILE = """
model = "lab"
dataset = "synthetic-davis"
device = "cpu"
workers = 0
save_predictions = false
tune_on = "synthetic-davis-train"
rule = "best"
[dataset_options]
videos = 2
frames = 6
size = "96x64"
[tune_dataset_options]
videos = 2
frames = 6
size = "96x64"
[[candidates]]
topk = 5
radius = 2
[[candidates]]
topk = 10
radius = "none"
"""


def test_a_tune_described_in_a_file(tmp_path):
    path = tmp_path / "tune.toml"
    path.write_text(TUNE_FILE)
    # the command line wins over the file (the rule), the file gives the rest
    res = invoke("tune", "--config", path, "--rule", "simplest-within-ci", "--out", tmp_path / "runs", "--run-id", "f",
                 "-q", "--json", code=0)
    t = json.loads(res.stdout)["tuning"]
    assert t["candidates"] == [{"topk": "5", "radius": "2"}, {"topk": "10", "radius": "none"}]
    assert t["rule"] == "simplest-within-ci" and t["tuned_on"]["dataset"] == "synthetic-davis-train"
    assert t["chosen"] == _restated(t["points"], "simplest-within-ci")
    for text, message in (
        ("tune_on = 5", "tune.toml: 'tune_on' must be a non-empty string, got 5"),
        ("rulez = 5", "tune.toml: unknown key 'rulez'. Run options: allow_test_tuning, batch_size, candidates,"),
        ("candidates = []", "--candidates: the list is empty"),
    ):
        path.write_text(text)
        res = invoke("tune", "--config", path, "--out", tmp_path / "bad", code=2)
        assert res.output.startswith("Error: ") and res.output.count("\n") == 1 and message in res.output


def test_a_record_whose_candidates_differ_from_its_points_is_refused(listed, tmp_path):
    rec = json.loads((listed["result"].evaluation.run_dir / "summary.json").read_text())
    rec["tuning"]["candidates"] = list(reversed(rec["tuning"]["candidates"]))
    (tmp_path / "summary.json").write_text(json.dumps(rec))
    with pytest.raises(InputFileError, match="tuning.candidates is not the list of the settings of tuning.points"):
        load_record(tmp_path)
