"""`vosbench compare`, `leaderboard --ci/--significance`, `check --tolerance ci` and the report's
paired-difference chart, on run folders made here with hand-made per-object scores. Expected
numbers are recomputed in the test (enumerating every sign pattern, scipy's Wilcoxon)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from tests.support.cli import invoke

GOLDEN_RUN = Path(__file__).resolve().parent / "golden" / "runs" / "davis16-val" / "lab" / "20261121-090000-bbbbbb"
SEQS = [f"seq{i:02d}" for i in range(8)]
# per sequence: the objects' (J_mean, F_mean) for two models; B is worse on 7 of 8 sequences
A = {s: [(0.70 + 0.02 * i, 0.68 + 0.02 * i)] + ([(0.5, 0.52)] if i % 3 == 0 else []) for i, s in enumerate(SEQS)}
B = {s: [(j - d, f - d) for j, f in objs] for (s, objs), d in zip(A.items(), [0.05, 0.03, 0.08, -0.02, 0.04, 0.06, 0.01, 0.07])}


def make_run(root: Path, model: str, objects: dict[str, list[tuple[float, float]]], *, dataset: str = "davis16-val",
             run_id: str | None = None, topk: int = 10) -> Path:
    doc = json.loads((GOLDEN_RUN / "summary.json").read_text())
    doc["run_id"] = run_id or f"20261201-000000-{model[:6]:a<6}"
    doc["model"]["name"] = model
    doc["dataset"]["name"] = dataset
    doc["dataset"]["sequences"] = list(objects)
    doc["protocol"]["topk"] = topk
    rows = [(s, k, j, f) for s, objs in objects.items() for k, (j, f) in enumerate(objs, start=1)]
    jm, fm = np.mean([r[2] for r in rows]), np.mean([r[3] for r in rows])
    doc["metrics"] = {"JF_mean": (jm + fm) / 2, "J_mean": jm, "F_mean": fm}
    run = root / dataset / model / doc["run_id"]
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps(doc))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sequence", "object", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"])
    for s, k, j, f in rows:
        w.writerow([s, k, j, 1.0, 0.0, f, 1.0, 0.0])
    (run / "per_object.csv").write_text(buf.getvalue())
    return run


def seq_jf(objects):
    return {s: 100 * np.mean([(j + f) / 2 for j, f in objs]) for s, objs in objects.items()}


def test_compare_json_matches_independent_numbers(tmp_path):
    a, b = make_run(tmp_path, "alpha", A), make_run(tmp_path, "beta", B)
    res = invoke("compare", a, b, "--format", "json")
    assert res.exit_code == 0, res.output
    pair = json.loads(res.stdout)["pairs"][0]
    ja, jb = seq_jf(A), seq_jf(B)
    diffs = np.array([ja[s] - jb[s] for s in SEQS])
    weights = np.array([len(A[s]) for s in SEQS])
    # score difference = difference of the object means
    obj_a = [(j + f) / 2 for objs in A.values() for j, f in objs]
    obj_b = [(j + f) / 2 for objs in B.values() for j, f in objs]
    assert pair["difference"] == pytest.approx(100 * (np.mean(obj_a) - np.mean(obj_b)), abs=1e-3)
    assert pair["difference_ci_low"] <= pair["difference"] <= pair["difference_ci_high"]
    # sign-flip: all 2^8 patterns of the weighted statistic
    x = weights * diffs
    hits = sum(abs(np.dot(sg, x)) >= abs(x.sum()) - 1e-9 for sg in product((1, -1), repeat=8))
    assert pair["sign_flip"]["p"] == pytest.approx(hits / 256)
    assert pair["sign_flip"]["method"].startswith("exact")
    assert pair["wilcoxon"]["p"] == pytest.approx(sps.wilcoxon(diffs).pvalue)
    assert (pair["wins_a"], pair["wins_b"], pair["ties"]) == (7, 1, 0)
    assert pair["per_sequence"]["seq03"]["a_minus_b"] == pytest.approx(-2.0, abs=1e-3)


def test_compare_table_md_and_csv(tmp_path):
    a, b = make_run(tmp_path, "alpha", A), make_run(tmp_path, "beta", B)
    res = invoke("compare", a, b)
    assert res.exit_code == 0, res.output
    assert "vosbench compare: JF_mean" in res.output and "wins A/B/ties" in res.output
    assert "alpha vs beta:" in res.output and "significant at 5 %" in res.output
    md = invoke("compare", a, b, "--format", "md").stdout
    assert md.startswith("| A | B | sequences |") and "| seq02 |" in md
    rows = list(csv.DictReader(io.StringIO(invoke("compare", a, b, "--format", "csv").stdout)))
    assert [r["sequence"] for r in rows] == SEQS
    assert float(rows[0]["a_minus_b"]) == pytest.approx(5.0, abs=1e-3)


def test_compare_is_deterministic_and_seeded(tmp_path):
    a, b = make_run(tmp_path, "alpha", A), make_run(tmp_path, "beta", B)
    one = invoke("compare", a, b, "--format", "json").stdout
    assert one == invoke("compare", a, b, "--format", "json").stdout
    other = invoke("compare", a, b, "--format", "json", "--seed", "9").stdout
    assert json.loads(one)["pairs"][0]["difference_ci_low"] != json.loads(other)["pairs"][0]["difference_ci_low"]


def test_three_runs_all_pairs_with_holm(tmp_path):
    runs = [make_run(tmp_path, "alpha", A), make_run(tmp_path, "beta", B), make_run(tmp_path, "gamma", A)]
    doc = json.loads(invoke("compare", *runs, "--format", "json").stdout)
    assert [(p["a"], p["b"]) for p in doc["pairs"]] == [("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]
    raw = [p["sign_flip"]["p"] for p in doc["pairs"]]
    order = np.argsort(raw)
    expect, running = [0.0] * 3, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * raw[i]))
        expect[i] = running
    assert [p["sign_flip"]["p_holm"] for p in doc["pairs"]] == pytest.approx(expect)
    assert doc["pairs"][1]["difference"] == 0 and doc["pairs"][1]["sign_flip"]["p"] == 1.0


def test_differences_are_named_or_refused(tmp_path):
    a = make_run(tmp_path, "alpha", A)
    fewer = make_run(tmp_path, "beta", {s: B[s] for s in SEQS[:6]}, topk=5)
    res = invoke("compare", a, fewer)
    assert res.exit_code == 0, res.output
    assert "protocols differ (topk: 10 vs 5)" in res.output
    assert "only in 20261201-000000-alphaa: seq06, seq07" in res.output
    res = invoke("compare", a, fewer, "--strict")
    assert res.exit_code == 2 and "--strict" in res.output
    other = make_run(tmp_path, "gamma", B, dataset="davis17-val")
    res = invoke("compare", a, other)
    assert res.exit_code == 2 and "different datasets (davis16-val vs davis17-val)" in res.output


def test_bad_input_exits_2_naming_the_file(tmp_path):
    a, b = make_run(tmp_path, "alpha", A), make_run(tmp_path, "beta", B)
    (b / "per_object.csv").unlink()
    res = invoke("compare", a, b)
    assert res.exit_code == 2 and str(b / "per_object.csv") in res.output
    (b / "per_object.csv").write_text("sequence,object,J_mean,J_recall,J_decay,F_mean,F_recall,F_decay\nseq00,1,high,1,0,0.5,1,0\n")
    res = invoke("compare", a, b)
    assert res.exit_code == 2 and "J_mean='high' is not a number" in res.output
    res = invoke("compare", a)
    assert res.exit_code == 2 and "at least two run folders" in res.output
    res = invoke("compare", a, tmp_path / "nowhere")
    assert res.exit_code == 2 and "summary.json: not found" in res.output


def test_leaderboard_ci_and_significance(tmp_path):
    from vosbench.records.stats import bootstrap_intervals
    from vosbench.records.stats_io import clustered_objects
    from vosbench.records.reader import read_per_object

    a, _ = make_run(tmp_path, "alpha", A), make_run(tmp_path, "beta", B)
    text = invoke("leaderboard", "--runs", tmp_path, "--ci", "0.9", "--format", "csv").stdout
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(text))}
    expect = bootstrap_intervals(clustered_objects(read_per_object(a)), ["JF_mean"], level=0.9)["JF_mean"]
    assert float(rows["alpha"]["JF_mean_ci_low"]) == pytest.approx(100 * expect.low, abs=5e-4)
    assert float(rows["alpha"]["JF_mean_ci_high"]) == pytest.approx(100 * expect.high, abs=5e-4)
    md = invoke("leaderboard", "--runs", tmp_path, "--ci", "--significance").stdout
    half = 100 * (bootstrap_intervals(clustered_objects(read_per_object(a)), ["JF_mean"])["JF_mean"].half_width)
    assert f"± {half:.1f}" in md
    assert "| best |" in md and "| worse (p=" in md  # B is worse on 7 of 8 sequences
    md2 = invoke("leaderboard", "--runs", tmp_path, "--ci", "--ci-style", "interval").stdout
    assert " [" in md2.split("| alpha |")[1].splitlines()[0] and "±" not in md2
    plain = invoke("leaderboard", "--runs", tmp_path, "--format", "csv").stdout
    assert "_ci_low" not in plain and "significance" not in plain


def test_check_tolerance_ci(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "alpha", A)
    base = tmp_path / "base.csv"
    assert invoke("leaderboard", "--runs", runs, "--ci", "--format", "csv", "--out", base).exit_code == 0
    res = invoke("check", "--baseline", base, "--runs", runs, "--tolerance", "ci")
    assert res.exit_code == 0 and "within the baseline's confidence bounds" in res.output
    # a new run whose J&F is below the baseline's lower bound fails; one inside the interval passes
    rows = list(csv.DictReader(io.StringIO(base.read_text())))
    low = float(rows[0]["JF_mean_ci_low"])
    shutil.rmtree(runs)
    worse = {s: [(j - 0.15, f - 0.15) for j, f in objs] for s, objs in A.items()}
    make_run(runs, "alpha", worse)
    res = invoke("check", "--baseline", base, "--runs", runs, "--tolerance", "ci")
    assert res.exit_code == 1 and "beyond the baseline's confidence bound" in res.output, res.output
    assert float(rows[0]["JF_mean"]) - 15 < low
    shutil.rmtree(runs)
    make_run(runs, "alpha", {s: [(j - 0.005, f - 0.005) for j, f in objs] for s, objs in A.items()})
    assert invoke("check", "--baseline", base, "--runs", runs, "--tolerance", "ci").exit_code == 0
    # that 0.5-point drop stays inside the interval but fails a point tolerance below it
    assert invoke("check", "--baseline", base, "--runs", runs, "--tolerance", "0.4").exit_code == 1


def test_check_tolerance_ci_without_bounds_exits_2(tmp_path):
    make_run(tmp_path / "runs", "alpha", A)
    base = tmp_path / "base.csv"
    invoke("check", "--baseline", base, "--runs", tmp_path / "runs", "--update")
    res = invoke("check", "--baseline", base, "--runs", tmp_path / "runs", "--tolerance", "ci")
    assert res.exit_code == 2 and str(base) in res.output and "JF_mean_ci_low" in res.output


def test_new_runs_write_intervals_into_summary(tmp_path, tiny_davis17):
    res = invoke("run", "--model", "lab", "--dataset", "davis17-val", "--data-root", tiny_davis17, "--out",
                 tmp_path, "--device", "cpu", "--no-save-predictions")
    assert res.exit_code == 0, res.output
    (summary,) = tmp_path.rglob("summary.json")
    doc = json.loads(summary.read_text())
    ci = doc["ci"]
    assert ci["level"] == 0.95 and ci["unit"] == "sequence" and ci["resamples"] == 10000
    lo, hi = ci["metrics"]["JF_mean"]["low"], ci["metrics"]["JF_mean"]["high"]
    assert lo <= doc["metrics"]["JF_mean"] <= hi


def test_report_draws_the_paired_differences(tmp_path):
    pytest.importorskip("matplotlib")
    a, b = make_run(tmp_path, "alpha", A), make_run(tmp_path, "beta", B)
    res = invoke("report", a, "--compare", b, "--video", "none", "--out", tmp_path / "rep")
    assert res.exit_code == 0, res.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "Paired differences" in html and "paired_diff_1.png" in html
    assert (tmp_path / "rep" / "paired_diff_1.png").stat().st_size > 1000
