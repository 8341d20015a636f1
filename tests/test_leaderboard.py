"""Leaderboard: golden markdown/CSV from the fixed records in tests/golden/runs, and the rules
behind them (latest run, protocol separation, bold best, published rows, per-sequence view).

Regenerate the golden files after an intended change with
``VOSBENCH_UPDATE_GOLDEN=1 pytest tests/test_leaderboard.py`` and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from vosbench.results import leaderboard as lb
from vosbench.results.per_sequence import build_per_sequence
from vosbench.cli.main import cli
from vosbench.records.reader import find_records, load_record
from tests.support import cli as support_cli

GOLDEN = Path(__file__).resolve().parent / "golden"
RUNS = GOLDEN / "runs"
UPDATE = os.environ.get("VOSBENCH_UPDATE_GOLDEN") == "1"


invoke = partial(support_cli.invoke, catch_exceptions=False)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run with VOSBENCH_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}"


CASES = {
    "leaderboard.md": ["--format", "md"],
    "leaderboard.csv": ["--format", "csv"],
    "leaderboard_published.md": ["--dataset", "davis17-val,jhmdb-split1,ytvos18-val", "--with-published"],
    "leaderboard_published.csv": ["--dataset", "davis17-val", "--dataset", "jhmdb-split1", "--with-published",
                                  "--format", "csv"],
    "leaderboard_all.md": ["--dataset", "davis16-val", "--all", "--metric", "J_decay"],
    "per_sequence.md": ["--per-sequence", "--dataset", "davis16-val"],
    "per_sequence.csv": ["--per-sequence", "--dataset", "davis16-val", "--format", "csv"],
    "per_sequence_jhmdb.md": ["--per-sequence", "--dataset", "jhmdb-split1"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_outputs(name):
    res = invoke("leaderboard", "--runs", str(RUNS), *CASES[name])
    assert res.exit_code == 0, res.output
    golden(name, res.stdout)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _fixture_means(run: str) -> dict[str, float]:
    """Independent recomputation from per_object.csv: mean over objects, in percent."""
    (path,) = RUNS.glob(f"*/*/{run}/per_object.csv")
    rows = list(csv.DictReader(path.open()))
    out = {k: 100 * sum(float(r[k]) for r in rows) / len(rows) for k in ("J_mean", "F_mean", "J_decay")}
    out["JF_mean"] = (out["J_mean"] + out["F_mean"]) / 2
    return out


def test_latest_run_wins_and_failed_runs_are_ignored():
    rows = _csv_rows(invoke("leaderboard", "--runs", str(RUNS), "--format", "csv").stdout)
    lab = [r for r in rows if r["dataset"] == "davis16-val" and r["model"] == "lab" and "topk=10" in r["protocol_settings"]]
    # aaaaaa is older, ffffff is newer but failed: bbbbbb is the latest finished run.
    assert [r["run_id"] for r in lab] == ["20261121-090000-bbbbbb"]
    expect = _fixture_means("20261121-090000-bbbbbb")
    for key in ("JF_mean", "J_mean", "F_mean", "J_decay"):
        assert float(lab[0][key]) == pytest.approx(expect[key], abs=5e-4)


def test_a_run_on_fewer_sequences_is_a_row_of_its_own():
    rows = _csv_rows(invoke("leaderboard", "--runs", str(RUNS), "--format", "csv").stdout)
    ident = {r["sequences"]: r["run_id"] for r in rows if r["model"] == "identity"}
    assert ident == {"blackswan+dog": "20261120-110000-dddddd", "dog": "20261126-080000-dddddd"}
    md = invoke("leaderboard", "--runs", str(RUNS), "--dataset", "davis16-val").stdout
    assert "| Model | Checkpoint | Protocol | Sequences | J&F |" in md
    assert "| identity | - | crw v1 [1] | dog | 11.5 |" in md


def test_all_lists_every_finished_run():
    rows = _csv_rows(invoke("leaderboard", "--runs", str(RUNS), "--format", "csv", "--all").stdout)
    lab = sorted(r["run_id"] for r in rows if r["dataset"] == "davis16-val" and r["model"] == "lab")
    assert lab == ["20261120-100000-aaaaaa", "20261121-090000-bbbbbb", "20261121-120000-cccccc"]


def test_protocols_that_differ_are_separate_rows_with_numbered_footnotes():
    board = lb.build(find_records(RUNS), datasets=["davis16-val"])
    lab = [r for r in board.rows if r.model == "lab"]
    assert len(lab) == 2 and lab[0].ref != lab[1].ref
    text = lb.to_markdown(board)
    topk5 = next(r for r in lab if "topk=5" in r.protocol_settings)
    topk10 = next(r for r in lab if "topk=10" in r.protocol_settings)
    assert f"- [{topk5.ref}] crw v1: resize=native" in text
    assert f"(differs from [{topk10.ref}] in: topk=5)" in text


def test_rows_are_sorted_by_metric_and_best_is_bold():
    board = lb.build(find_records(RUNS), datasets=["davis16-val"])
    jf = [r.metrics["JF_mean"] for r in board.rows]
    assert jf == sorted(jf, reverse=True)
    md = lb.to_markdown(board)
    lines = [ln for ln in md.splitlines() if ln.startswith("| ") and "Model" not in ln]
    header = next(ln for ln in md.splitlines() if ln.startswith("| Model"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    decay = cols.index("J-Decay")
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    bold_decay = [c[decay] for c in cells if c[decay].startswith("**")]
    lowest = min(r.metrics["J_decay"] for r in board.rows)
    assert bold_decay == [f"**{lowest:.1f}**"]  # decay: lower is better
    # sorting by a lower-is-better metric puts the smallest first
    board = lb.build(find_records(RUNS), datasets=["davis16-val"], metric="J_decay")
    decays = [r.metrics["J_decay"] for r in board.rows]
    assert decays == sorted(decays)


def test_per_sequence_last_line_equals_the_run_jf():
    view = build_per_sequence(find_records(RUNS), "davis16-val")
    for label, row in zip(view.labels, view.columns):
        record = load_record(next(RUNS.glob(f"*/*/{row.run_id}")))
        assert view.overall[label] == pytest.approx(100 * record.metrics["JF_mean"])
        objs = list(csv.DictReader((record.run_dir / "per_object.csv").open()))
        for seq in view.sequences:
            mine = [(float(o["J_mean"]) + float(o["F_mean"])) / 2 for o in objs if o["sequence"] == seq]
            if mine:
                assert view.values[seq][label] == pytest.approx(100 * sum(mine) / len(mine))
            else:
                assert label not in view.values[seq]


def test_published_data_matches_their_sources():
    entries = {e["id"]: e for e in lb.published_entries()}
    assert entries["crw-readme"]["metrics"] == {
        "JF_mean": 67.6, "J_mean": 64.6, "F_mean": 70.6, "J_recall": 75.8, "F_recall": 83.2,
        "J_decay": 20.3, "F_decay": 24.7,
    }
    assert entries["crw-paper-jhmdb"]["metrics"] == {"PCK@0.1": 59.3, "PCK@0.2": 84.9}
    assert entries["mast-ytvos18"]["metrics"] == {
        "overall": 64.2, "J_seen": 63.9, "F_seen": 64.9, "J_unseen": 60.3, "F_unseen": 67.7,
    }
    assert entries["dino-vits16"]["metrics"]["JF_mean"] == 61.8
    assert entries["identity"]["metrics"]["J_recall"] == 15.9
    for e in entries.values():
        assert e["dataset"] in {"davis17-val", "davis17-val@480x880", "jhmdb-split1", "ytvos18-val", "badja"}
        assert e["source"] and e["protocol_note"] and e["method"] and e["backbone"] and e["training_data"]
        assert e["metrics"] and set(e["metrics"]) <= set(lb.METRIC_BY_KEY)
        assert all(0 < v < 100 for v in e["metrics"].values())
        m = e["metrics"]
        if {"JF_mean", "J_mean", "F_mean"} <= set(m):
            # J&F = (J + F) / 2 up to the sources' rounding; where a source disagrees, a note says so
            mean = (m["J_mean"] + m["F_mean"]) / 2
            if abs(m["JF_mean"] - mean) > 0.1 + 1e-9:
                assert f"mean of the listed J and F is {mean:.4g}" in e.get("note", ""), e["id"]


def test_published_rows_are_marked_and_never_bold():
    board = lb.build(find_records(RUNS), datasets=["davis17-val"], with_published=True)
    md = lb.to_markdown(board)
    pub_lines = [ln for ln in md.splitlines() if "*(published)*" in ln]
    assert len(pub_lines) == sum(r.kind == "published" for r in board.rows) > 30
    assert not any("**" in ln for ln in pub_lines)
    assert "[P1] " in md and "CRW README.md:53" in md
    rows = _csv_rows(lb.to_csv(board))
    assert {r["kind"] for r in rows} == {"run", "published"}


def test_with_published_notes_datasets_without_published_numbers():
    res = invoke("leaderboard", "--runs", str(RUNS), "--dataset", "davis16-val", "--with-published", code=0)
    assert "No published numbers for davis16-val" in res.stdout


def test_json_output_round_trips_the_csv_values():
    data = json.loads(invoke("leaderboard", "--runs", str(RUNS), "--format", "json").stdout)
    rows = _csv_rows(invoke("leaderboard", "--runs", str(RUNS), "--format", "csv").stdout)
    assert data["format"] == "vosbench-leaderboard" and len(data["rows"]) == len(rows)
    for j, c in zip(data["rows"], rows):
        assert j["model"] == c["model"] and j["protocol_settings"] == c["protocol_settings"]
        for k, v in j["metrics"].items():
            assert float(c[k]) == v
    assert {p["ref"] for p in data["protocols"]} == {"1", "2", "3"}


def test_out_file_format_follows_extension(tmp_path):
    out = tmp_path / "board.csv"
    res = invoke("leaderboard", "--runs", str(RUNS), "--out", str(out))
    assert res.exit_code == 0
    assert out.read_text() == (GOLDEN / "leaderboard.csv").read_text()


def test_errors_are_clear(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["leaderboard", "--runs", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(cli, ["leaderboard", "--runs", str(RUNS), "--metric", "JJ"])
    assert res.exit_code == 2 and "unknown metric 'JJ'" in res.output
    res = runner.invoke(cli, ["leaderboard", "--runs", str(RUNS), "--per-sequence"])
    assert res.exit_code == 2 and "choose it with --dataset" in res.output
    bad = tmp_path / "runs" / "davis16-val" / "lab" / "x"
    shutil.copytree(RUNS / "davis16-val" / "lab" / "20261120-100000-aaaaaa", bad)
    (bad / "summary.json").write_text('{"schema_version": 1, "run_id": "x"')
    res = runner.invoke(cli, ["leaderboard", "--runs", str(tmp_path / "runs")])
    assert res.exit_code == 2 and re.search(r"summary\.json: cannot parse JSON", res.output)
    (bad / "summary.json").write_text(json.dumps({"schema_version": 1, "run_id": "x", "model": {"name": "lab"}}))
    res = runner.invoke(cli, ["leaderboard", "--runs", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "missing object 'dataset'" in res.output


def test_help_ends_with_examples():
    res = invoke("leaderboard", "--help")
    assert res.exit_code == 0 and res.output.rstrip().splitlines()[-1].strip().startswith("vosbench leaderboard")
    assert "Examples:" in res.output
