"""`vosbench check`: pass, drop beyond tolerance, missing and extra rows, malformed baselines,
JSON baselines, --both-ways and --update, all against the fixed records in tests/golden/runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support.cli import invoke

RUNS = Path(__file__).resolve().parent / "golden" / "runs"
HEAD = "dataset,model,checkpoint,protocol,protocol_settings,sequences"


@pytest.fixture()
def baseline(tmp_path) -> Path:
    path = tmp_path / "baseline.csv"
    res = invoke("check", "--baseline", str(path), "--runs", str(RUNS), "--update")
    assert res.exit_code == 0, res.output
    return path


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(path.read_text()))
    return list(reader.fieldnames or []), list(reader)


def write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue())


def edit(path: Path, model: str, dataset: str, metric: str, delta: float) -> None:
    header, rows = read(path)
    hits = [r for r in rows if r["model"] == model and r["dataset"] == dataset and r["sequences"] != "dog"]
    assert hits
    for r in hits:
        r[metric] = repr(float(r[metric]) + delta)
    write(path, header, rows)


def check(path: Path, *extra: str):
    return invoke("check", "--baseline", str(path), "--runs", str(RUNS), *extra)


def test_update_writes_the_leaderboard_csv_and_check_passes(baseline):
    board = invoke("leaderboard", "--runs", str(RUNS), "--format", "csv", code=0)
    assert baseline.read_text() == board.stdout
    res = check(baseline)
    assert res.exit_code == 0, res.output
    assert "check passed: 56 metric(s) of 8 row(s)" in res.output
    for col in ("baseline", "now", "delta", "result"):
        assert col in res.output


def test_drop_beyond_tolerance_fails_and_within_passes(baseline):
    # the baseline says identity had 0.6 points more J&F than it has now: a 0.6 drop
    edit(baseline, "identity", "davis16-val", "JF_mean", +0.6)
    res = check(baseline)
    assert res.exit_code == 1, res.output
    assert "FAIL" in res.output and "1 metric(s) worse by more than 0.5 points" in res.output
    assert "-0.600" in res.output
    assert check(baseline, "--tolerance", "0.7").exit_code == 0


def test_zero_tolerance_compares_at_the_baseline_precision(baseline):
    # fixture values are exact at 3 decimals except 46.667 (= 46.6666...), which must not count
    assert check(baseline, "--tolerance", "0", "--both-ways").exit_code == 0
    edit(baseline, "resnet18", "davis17-val", "JF_mean", +0.001)
    res = check(baseline, "--tolerance", "0")
    assert res.exit_code == 1 and "-0.001" in res.output


def test_committed_project_baseline_is_valid_and_anchored():
    """baselines/baseline.csv loads, and its identity row on the six real sequences is the official
    DAVIS number for the copy-frame-0 prediction (shared/data reference: J&F 0.2655281305)."""
    from vosbench.results.check import load_baseline

    rows = load_baseline(Path(__file__).resolve().parents[1] / "baselines" / "baseline.csv")
    ident = [r for r in rows if r.key[0] == "davis16-val" and r.key[1] == "identity" and r.key[5].startswith("6 ")]
    assert len(ident) == 1
    assert ident[0].metrics["JF_mean"] == pytest.approx(26.553, abs=1e-9)
    assert {r.key[1] for r in rows} == {"identity", "lab", "resnet18"}


def test_decay_is_worse_when_it_rises(baseline):
    edit(baseline, "identity", "davis16-val", "J_decay", -1.0)  # now 1 point higher than baseline
    res = check(baseline)
    assert res.exit_code == 1 and "J_decay" in res.output
    edit(baseline, "identity", "davis16-val", "J_decay", +2.0)  # now 1 point lower: better
    assert check(baseline).exit_code == 0


def test_improvement_only_fails_with_both_ways(baseline):
    edit(baseline, "lab", "jhmdb-split1", "PCK@0.1", -2.0)
    assert check(baseline).exit_code == 0
    res = check(baseline, "--both-ways")
    assert res.exit_code == 1 and "improved by more than 0.5 points" in res.output and "--update" in res.output


def test_missing_model_row_fails_and_names_it(baseline):
    header, rows = read(baseline)
    ghost = dict(rows[0], model="crw", checkpoint="pretrained.pth (0123456789ab)")
    write(baseline, header, rows + [ghost])
    res = check(baseline)
    assert res.exit_code == 1
    assert "1 baseline row(s) without a run: crw @ pretrained.pth (0123456789ab) on davis16-val [blackswan+dog] (crw v1)" in res.output


def test_extra_rows_are_reported_not_failed(baseline):
    header, rows = read(baseline)
    write(baseline, header, [r for r in rows if r["model"] != "identity"])
    res = check(baseline)
    assert res.exit_code == 0, res.output
    assert "not in the baseline (reported, not checked):" in res.output
    assert "identity on davis16-val [blackswan+dog] (crw v1 [1])" in res.output
    assert "identity on davis16-val [dog] (crw v1 [1])" in res.output


def test_changed_protocol_settings_do_not_match(baseline):
    header, rows = read(baseline)
    for r in rows:
        if r["model"] == "identity" and r["sequences"] == "dog":
            r["protocol_settings"] = r["protocol_settings"].replace("topk=10", "topk=20")
    write(baseline, header, rows)
    res = check(baseline)
    assert res.exit_code == 1 and "without a run: identity on davis16-val [dog] (crw v1)" in res.output
    assert "not in the baseline (reported, not checked):\n  identity on davis16-val [dog] (crw v1 [1])" in res.output


def test_json_baseline(tmp_path):
    path = tmp_path / "baseline.json"
    assert invoke("check", "--baseline", str(path), "--runs", str(RUNS), "--update").exit_code == 0
    doc = json.loads(path.read_text())
    assert doc["format"] == "vosbench-leaderboard" and len(doc["rows"]) == 8
    assert check(path).exit_code == 0
    doc["rows"][0]["metrics"]["J_mean"] += 5
    path.write_text(json.dumps(doc))
    assert check(path).exit_code == 1


def test_published_rows_in_a_baseline_are_ignored(tmp_path):
    path = tmp_path / "with_published.csv"
    res = invoke("leaderboard", "--runs", str(RUNS), "--with-published", "--dataset", "davis17-val",
                 "--format", "csv", "--out", str(path))
    assert res.exit_code == 0
    res = check(path)
    assert res.exit_code == 0, res.output
    assert "check passed: 7 metric(s) of 1 row(s)" in res.output


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "cannot parse JSON"),
        ('{"format": "something-else", "rows": []}', "not a JSON leaderboard"),
        ("dataset,model\nx,y\n", "missing column(s) checkpoint, protocol, protocol_settings, sequences"),
        (f"{HEAD},JF_mean\nd,m,-,crw v1,s,a,high\n", "JF_mean='high' is not a number"),
        (f"{HEAD},JJ\nd,m,-,crw v1,s,a,1\n", "unknown column(s) JJ"),
        (f"{HEAD},JF_mean\n", "no run rows"),
    ],
)
def test_malformed_baseline_exits_2(tmp_path, content, message):
    path = tmp_path / ("b.json" if content.startswith("{") else "b.csv")
    path.write_text(content)
    res = check(path)
    assert res.exit_code == 2, res.output
    assert message in res.output and str(path) in res.output


def test_baseline_written_with_all_is_rejected(tmp_path):
    path = tmp_path / "all.csv"
    invoke("leaderboard", "--runs", str(RUNS), "--all", "--format", "csv", "--out", str(path))
    res = check(path)
    assert res.exit_code == 2 and "write it without --all" in res.output


def test_missing_files_exit_2(tmp_path, baseline):
    res = check(tmp_path / "nope.csv")
    assert res.exit_code == 2 and "--update" in res.output
    res = invoke("check", "--baseline", str(baseline), "--runs", str(tmp_path / "no_runs"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = invoke("check", "--baseline", str(tmp_path / "b.md"), "--runs", str(RUNS), "--update")
    assert res.exit_code == 2 and "markdown" in res.output
    res = check(baseline, "--tolerance", "-1")
    assert res.exit_code == 2 and "non-negative" in res.output


def test_help_ends_with_examples():
    res = invoke("check", "--help")
    assert res.exit_code == 0 and "Examples:" in res.output
    assert res.output.rstrip().splitlines()[-1].strip().startswith("vosbench check")


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_a_blank_cell_of_a_reported_metric_exits_2(tmp_path, suffix):
    path = tmp_path / f"baseline{suffix}"
    assert invoke("check", "--baseline", str(path), "--runs", str(RUNS), "--update").exit_code == 0
    if suffix == ".csv":
        header, rows = read(path)
        (row,) = [r for r in rows if r["model"] == "identity" and r["sequences"] == "dog"]
        row["JF_mean"] = ""
        write(path, header, rows)
        where = f"{path}: line {rows.index(row) + 2}"
    else:
        doc = json.loads(path.read_text())
        (i,) = [i for i, r in enumerate(doc["rows"]) if r["model"] == "identity" and r["sequences"] == "dog"]
        doc["rows"][i]["metrics"]["JF_mean"] = None
        path.write_text(json.dumps(doc))
        where = f"{path}: rows[{i}]"
    res = check(path)
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output
    assert res.output.startswith(f"Error: {where}: JF_mean is blank, but the run identity on davis16-val [dog]")


def test_a_baseline_written_before_a_setting_existed_still_matches(tmp_path):
    """Pose records always wrote ``keypoint_readout_topk=3``; since it became a protocol setting of
    every run it is left out of a record's identity at that value. The committed baseline's JHMDB rows
    still carry it, and must match runs made now (a setting at another value still differs)."""
    from vosbench.records.labels import canonical_settings_text
    from vosbench.results.check import load_baseline

    text = "context=7;keypoint_readout_topk=3;mixing=joint;topk=10"
    assert canonical_settings_text(text) == "context=7;topk=10"
    assert canonical_settings_text("context=7;keypoint_readout_topk=5") == "context=7;keypoint_readout_topk=5"
    committed = Path(__file__).resolve().parents[1] / "baselines" / "baseline.csv"
    rows = [r for r in load_baseline(committed) if r.key[0] == "synthetic-jhmdb"]
    assert rows and all("keypoint_readout_topk" not in r.key[4] and "context=7" in r.key[4] for r in rows)
