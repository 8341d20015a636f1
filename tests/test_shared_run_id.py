"""Two models run with one ``--run-id`` under one runs folder are two runs: the leaderboard's
intervals (``--ci``), significance marks and per-sequence columns, and ``check --tolerance ci``
all use each run's own files. A run is its folder, never its bare run id."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import invoke

MODELS = ("lab", "identity")


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    """``data/``: six generated DAVIS-layout videos; ``runs/``: lab and identity, both run id ``ref``."""
    tmp = tmp_path_factory.mktemp("shared-run-id")
    invoke("data", "synth", "davis", "--out", tmp / "data", "--videos", "6", "--frames", "8", "--size", "128x96",
           code=0)
    for model in MODELS:
        invoke("run", "--model", model, "--dataset", "synthetic-davis", "--data-root", tmp / "data",
               "--device", "cpu", "--run-id", "ref", "--out", tmp / "runs", code=0, catch_exceptions=False)
    return tmp


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def own_jf(run_dir: Path) -> dict[str, float]:
    """Per-sequence J&F (percent) recomputed here from the run's own per_object.csv."""
    per_seq: dict[str, list[float]] = {}
    for r in rows((run_dir / "per_object.csv").read_text()):
        per_seq.setdefault(r["sequence"], []).append((float(r["J_mean"]) + float(r["F_mean"])) / 2)
    return {s: 100 * sum(v) / len(v) for s, v in per_seq.items()}


def test_both_runs_exist_under_one_run_id(tmp):
    assert sorted(p.parent.name for p in (tmp / "runs").glob("synthetic-davis/*/ref")) == sorted(MODELS)


def test_ci_gives_each_model_its_own_interval(tmp):
    res = invoke("leaderboard", "--runs", tmp / "runs", "--ci", "--format", "csv", code=0)
    by_model = {r["model"]: r for r in rows(res.stdout)}
    assert sorted(by_model) == sorted(MODELS)
    for model, r in by_model.items():
        for key in ("JF_mean", "J_mean", "F_mean"):
            low, value, high = (float(r[f"{key}_ci_low"]), float(r[key]), float(r[f"{key}_ci_high"]))
            assert low <= value <= high, (model, key, low, value, high)
    assert by_model["lab"]["JF_mean_ci_low"] != by_model["identity"]["JF_mean_ci_low"]


def test_significance_tests_the_two_runs_own_scores(tmp):
    # lab beats identity on all six sequences: the exact sign-flip p-value is 2/2^6
    res = invoke("leaderboard", "--runs", tmp / "runs", "--significance", "--format", "csv", code=0)
    marks = {r["model"]: r["significance"] for r in rows(res.stdout)}
    assert marks == {"lab": "best", "identity": "worse (p=0.031)"}


def test_per_sequence_columns_hold_each_models_scores(tmp):
    res = invoke("leaderboard", "--runs", tmp / "runs", "--per-sequence", "--format", "csv", code=0)
    table = rows(res.stdout)
    header = list(table[0])
    for model in MODELS:
        (label,) = [h for h in header if h.startswith(f"{model} ")]
        expect = own_jf(tmp / "runs" / "synthetic-davis" / model / "ref")
        got = {r["sequence"]: float(r[label]) for r in table if r["sequence"] in expect}
        assert got == pytest.approx(expect, abs=1e-3), model


@pytest.fixture(scope="module")
def now(tmp) -> Path:
    """A second runs folder: identity's run copied, and lab (run id ``ref`` again) on frames frozen
    at frame 0, so it can only copy the first mask as identity does: a drop of about 30 points."""
    frozen = tmp / "frozen"
    shutil.copytree(tmp / "data", frozen)
    for seq in (frozen / "JPEGImages" / "480p").iterdir():
        first = seq / "00000.jpg"
        for frame in seq.glob("*.jpg"):
            if frame != first:
                shutil.copyfile(first, frame)
    now = tmp / "now"
    shutil.copytree(tmp / "runs" / "synthetic-davis" / "identity", now / "synthetic-davis" / "identity")
    invoke("run", "--model", "lab", "--dataset", "synthetic-davis", "--data-root", frozen, "--device", "cpu",
           "--run-id", "ref", "--out", now, code=0, catch_exceptions=False)
    return now


def test_check_ci_fails_a_drop_of_one_model(tmp, now):
    baseline = tmp / "baseline_ci.csv"
    invoke("leaderboard", "--runs", tmp / "runs", "--ci", "--format", "csv", "--out", baseline, code=0)
    res = invoke("check", "--baseline", baseline, "--runs", tmp / "runs", "--tolerance", "ci", code=0)
    assert "check passed" in res.output
    res = invoke("check", "--baseline", baseline, "--runs", now, "--tolerance", "ci", code=1)
    lines = [ln for ln in res.output.splitlines() if "JF_mean" in ln]
    assert any(" lab " in ln and "FAIL" in ln for ln in lines), res.output
    assert any(" identity " in ln and "pass" in ln for ln in lines), res.output
    assert "check failed" in res.output


def test_compare_tells_runs_apart_by_folder(tmp, now):
    lab, ident = (tmp / "runs" / "synthetic-davis" / m / "ref" for m in MODELS)
    res = invoke("compare", lab, ident, lab, code=2)
    assert f"{lab} is given twice" in res.output and "Traceback" not in res.output
    res = invoke("compare", lab, now / "synthetic-davis" / "lab" / "ref", "--format", "json", code=0)
    labels = [r["label"] for r in json.loads(res.stdout)["runs"]]
    assert len(set(labels)) == 2 and str(now) in labels[1]
