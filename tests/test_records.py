"""The run-record contract (vosbench.records): typed files that round-trip, and run folders that
lie refused with one line naming the file: numbers finite and in range, no duplicated rows, safe
sequence names, a point and its interval from the same run."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from pathlib import Path

import pytest

from vosbench.core.errors import InputFileError
from vosbench.records.ledger_files import plan_text, read_plan, read_result, result_text
from vosbench.records.reader import load_record, read_summary
from vosbench.records.schema import read_eval_summary, write_eval_summary, write_summary
from vosbench.records.stats_io import load_clustered, read_per_video_pck
from vosbench.records.tables import (
    per_video_pck,
    read_keypoints,
    read_per_frame,
    read_per_joint_pck,
    read_per_object,
)
from vosbench.records.types import Plan, RunSummary, SequenceResult

from tests.support.cli import invoke

GOLDEN = Path(__file__).resolve().parent / "golden" / "runs"
DAVIS_RUN = GOLDEN / "davis16-val" / "lab" / "20261121-090000-bbbbbb"
POSE_RUN = GOLDEN / "jhmdb-split1" / "lab" / "20261124-080000-gggggg"


def assert_one_line_exit_2(res, *needles: str) -> str:
    """Exit code 2, no traceback, and exactly one line of output holding every needle."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exc_info)
    assert isinstance(res.exception, SystemExit), res.exc_info
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def copy_run(tmp_path: Path, src: Path = DAVIS_RUN) -> Path:
    """A copy of a golden run folder in a runs tree of its own: runs/<dataset>/<model>/<run-id>."""
    run = tmp_path / "runs" / src.relative_to(GOLDEN)
    shutil.copytree(src, run)
    return run


def edit_summary(run: Path, edit) -> None:
    doc = json.loads((run / "summary.json").read_text())
    edit(doc)
    (run / "summary.json").write_text(json.dumps(doc))


def edit_csv(path: Path, edit) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    edit(rows)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())


# --- typed files that round-trip ----------------------------------------------------------------


def a_record() -> RunSummary:
    return {
        "schema_version": 1,
        "run_id": "20261201-000000-abcdef",
        "created": "2026-12-01T00:00:00+00:00",
        "status": "complete",
        "task": "vos",
        "model": {"name": "lab", "checkpoint": None, "checkpoint_sha256": None, "options": {"seed": 1},
                  "source": "built-in", "random_init": False},
        "dataset": {"name": "davis16-val", "root": "/data/davis", "task": "vos", "sequences": ["blackswan", "dog"],
                    "resolution": "480p"},
        "protocol": {"name": "crw", "version": 1, "topk": 10, "radius": 12.0, "window": "circle"},
        "run_config": {"model": "lab", "sequences": ["blackswan", "dog"], "overrides": {}},
        "metrics": {"JF_mean": 0.6025, "J_mean": 0.63, "F_mean": 0.575, "J_decay": -0.02},
        "environment": {"vosbench": "0.1.0", "git_commit": None, "torch": "2.5", "python": "3.11", "device": "cpu",
                        "platform": "linux", "threads": 4, "tf32": {"matmul": False}},
        "timings": {"decode_s": 1.0, "features_s": 2.0, "propagation_s": 3.0, "evaluation_s": 0.5, "total_s": 7.0,
                    "frames": 100, "frames_per_s": 14.286, "peak_memory_mb": 512.0},
        "ci": {"level": 0.95, "method": "percentile", "resamples": 1000, "seed": 0, "unit": "sequence",
               "metrics": {"JF_mean": {"low": 0.5, "high": 0.7}}},
    }


def test_summary_round_trips(tmp_path):
    record = a_record()
    write_summary(tmp_path, record)
    assert read_summary(tmp_path) == record
    assert load_record(tmp_path).summary == record
    assert load_record(tmp_path).metrics == record["metrics"]


def test_plan_and_result_round_trip(tmp_path):
    plan: Plan = {"plan_version": 1, "record": a_record(), "config": {"model": "lab"},
                  "sequences": [{"name": "blackswan", "frames": 50}, {"name": "dog", "frames": 60}],
                  "submission_prefix": None}
    (tmp_path / "plan.json").write_text(plan_text(plan))
    assert read_plan(tmp_path) == plan
    result: SequenceResult = {
        "sequence": "dog", "frames": 60,
        "timings": {"decode_s": 0.1, "features_s": 0.2, "propagation_s": 0.3, "evaluation_s": 0.1, "frames": 60,
                    "peak_memory_mb": 100.0},
        "shard": "0/1", "launcher": "single", "process": "host-1-abc", "device": "cpu", "process_started": 1.5,
        "committed_at": 2.5,
        "objects": [{"object": 1, "group": None, "J_mean": 0.5, "J_recall": 0.6, "J_decay": -0.1, "F_mean": 0.4,
                     "F_recall": 0.3, "F_decay": 0.05, "frames": ["00001", "00002"], "J_frames": [0.5, 0.5],
                     "F_frames": [0.4, 0.4]}],
    }
    (tmp_path / "sequences" / "dog").mkdir(parents=True)
    (tmp_path / "sequences" / "dog" / "result.json").write_text(result_text(result))
    assert read_result(tmp_path, "dog") == result


def test_eval_summary_round_trips(tmp_path):
    path = write_eval_summary(tmp_path / "s.summary.json", {"JF_mean": 0.5, "J_mean": 0.6, "F_mean": 0.4},
                              benchmark="davis", objects=3, frames_per_sequence={"dog": 60}, rules="DAVIS")
    back = read_eval_summary(path)
    assert back == {"schema_version": 1, "kind": "eval", "JF_mean": 0.5, "J_mean": 0.6, "F_mean": 0.4,
                    "benchmark": "davis", "objects": 3, "frames_per_sequence": {"dog": 60}, "rules": "DAVIS"}


# --- records (summary.json) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, shown",
    [("JF_mean", -3.0, "JF_mean is -3.0"), ("J_mean", -5.0, "J_mean is -5.0"), ("F_mean", 1.5, "F_mean is 1.5"),
     ("J_decay", -1.5, "J_decay is -1.5")],
)
def test_leaderboard_refuses_a_record_with_a_metric_out_of_range(tmp_path, key, value, shown):
    run = copy_run(tmp_path)
    edit_summary(run, lambda d: d["metrics"].__setitem__(key, value))
    res = invoke("leaderboard", "--runs", tmp_path / "runs")
    assert_one_line_exit_2(res, str(run / "summary.json"), shown, "outside")
    assert "-300" not in res.output and "-500" not in res.output


@pytest.mark.parametrize("text, shown", [("1" + "0" * 400, "is 1000000000"), ("-Infinity", "is -inf"),
                                         ("1" + "0" * 5000, "cannot parse JSON"), ("true", "is True")])
def test_leaderboard_refuses_a_metric_that_is_no_finite_number(tmp_path, text, shown):
    run = copy_run(tmp_path)
    doc = (run / "summary.json").read_text()
    (run / "summary.json").write_text(doc.replace('"JF_mean": 0.5925', f'"JF_mean": {text}', 1))
    res = invoke("leaderboard", "--runs", tmp_path / "runs")
    assert_one_line_exit_2(res, str(run / "summary.json"), shown)


def test_a_decay_may_be_negative(tmp_path):
    run = copy_run(tmp_path)
    edit_summary(run, lambda d: d["metrics"].__setitem__("J_decay", -0.25))
    assert load_record(run).metrics["J_decay"] == -0.25


def test_a_pck_curve_out_of_range_is_refused(tmp_path):
    run = copy_run(tmp_path, POSE_RUN)
    edit_summary(run, lambda d: d["metrics"]["pck_curve"].__setitem__("0.1", 4.12))
    with pytest.raises(InputFileError, match=r"summary\.json: metric pck_curve\[0\.1\] is 4\.12, outside"):
        load_record(run)


@pytest.mark.parametrize("name, why", [("../../etc", "path separator"), ("..", "refers to a folder"),
                                       ("a\nb", "control")])
def test_leaderboard_refuses_a_record_with_an_unsafe_sequence_name(tmp_path, name, why):
    run = copy_run(tmp_path)
    edit_summary(run, lambda d: d["dataset"].__setitem__("sequences", ["blackswan", name]))
    res = invoke("leaderboard", "--runs", tmp_path / "runs")
    assert_one_line_exit_2(res, str(run / "summary.json"), "not a single safe folder/file name", why)


def test_a_record_listing_a_sequence_twice_is_refused(tmp_path):
    run = copy_run(tmp_path)
    edit_summary(run, lambda d: d["dataset"].__setitem__("sequences", ["blackswan", "dog", "blackswan"]))
    with pytest.raises(InputFileError, match=r"summary\.json: dataset\.sequences: sequence 'blackswan' appears twice"):
        load_record(run)


def test_leaderboard_refuses_an_interval_that_does_not_contain_its_point(tmp_path):
    run = copy_run(tmp_path)
    point = json.loads((run / "summary.json").read_text())["metrics"]["JF_mean"]
    block = {"level": 0.95, "method": "percentile", "resamples": 100, "seed": 0, "unit": "sequence",
             "metrics": {"JF_mean": {"low": point + 0.1, "high": point + 0.2}}}
    edit_summary(run, lambda d: d.__setitem__("ci", block))
    res = invoke("leaderboard", "--runs", tmp_path / "runs")
    assert_one_line_exit_2(res, str(run / "summary.json"), "interval of JF_mean", "does not contain its point")


def test_an_interval_around_its_point_is_read(tmp_path):
    run = copy_run(tmp_path)
    point = json.loads((run / "summary.json").read_text())["metrics"]["JF_mean"]
    block = {"level": 0.95, "method": "percentile", "resamples": 100, "seed": 0, "unit": "sequence",
             "metrics": {"JF_mean": {"low": point - 0.1, "high": point + 0.1}}}
    edit_summary(run, lambda d: d.__setitem__("ci", block))
    assert load_record(run).summary["ci"] == block


def test_an_interval_is_two_ordered_bounds_and_a_missing_point_is_not_compared(tmp_path):
    run = copy_run(tmp_path)
    block = {"level": 0.95, "method": "percentile", "resamples": 100, "seed": 0, "unit": "sequence",
             "metrics": {"JF_mean": {"low": 0.3, "high": 0.4}}}
    edit_summary(run, lambda d: (d["metrics"].__setitem__("JF_mean", None), d.__setitem__("ci", block)))
    assert "JF_mean" not in load_record(run).metrics
    block["metrics"]["JF_mean"] = {"low": 0.4, "high": 0.3}
    edit_summary(run, lambda d: d.__setitem__("ci", block))
    with pytest.raises(InputFileError, match=r"interval of JF_mean \[0\.4, 0\.3\] has its low bound above"):
        load_record(run)


def test_a_status_that_is_no_status_is_refused(tmp_path):
    run = copy_run(tmp_path)
    edit_summary(run, lambda d: d.__setitem__("status", "done"))
    with pytest.raises(InputFileError, match="status 'done' is none of running, complete, failed, interrupted"):
        load_record(run)


def test_compare_refuses_a_point_that_its_per_object_file_does_not_give(tmp_path):
    a, b = copy_run(tmp_path), copy_run(tmp_path, GOLDEN / "davis16-val" / "lab" / "20261121-120000-cccccc")
    edit_summary(a, lambda d: d["metrics"].__setitem__("JF_mean", 0.99))
    res = invoke("compare", a, b)
    assert_one_line_exit_2(res, str(a / "per_object.csv"), "JF_mean", "0.99", "expected both from the same run")


# --- tables ---------------------------------------------------------------------------------------


def test_leaderboard_per_sequence_refuses_a_score_out_of_range(tmp_path):
    run = copy_run(tmp_path)
    edit_csv(run / "per_object.csv", lambda rows: rows[1].__setitem__(2, "-3.0"))
    res = invoke("leaderboard", "--runs", tmp_path / "runs", "--per-sequence")
    assert_one_line_exit_2(res, str(run / "per_object.csv"), "line 2", "J_mean is -3.0, outside [0, 1]")


@pytest.mark.parametrize("value, problem", [("inf", "expected a finite number"), ("1.7", r"outside \[0, 1\]")])
def test_per_object_scores_are_finite_fractions(tmp_path, value, problem):
    run = copy_run(tmp_path)
    edit_csv(run / "per_object.csv", lambda rows: rows[2].__setitem__(5, value))
    with pytest.raises(InputFileError, match=rf"per_object\.csv: line 3: F_mean is .*{problem}"):
        read_per_object(run)


def test_leaderboard_per_sequence_refuses_an_object_listed_twice(tmp_path):
    run = copy_run(tmp_path)
    edit_csv(run / "per_object.csv", lambda rows: rows.append(list(rows[1])))
    res = invoke("leaderboard", "--runs", tmp_path / "runs", "--per-sequence")
    seq = next(csv.reader(io.StringIO((run / "per_object.csv").read_text().splitlines()[1])))[0]
    assert_one_line_exit_2(res, str(run / "per_object.csv"), f"object {seq}/1 appears twice")


def test_leaderboard_ci_csv_names_a_run_it_cannot_give_an_interval(tmp_path):
    """The CSV has no room for notes: the run whose per_object.csv is refused is named on stderr
    (its interval cells stay blank) instead of silently."""
    run = copy_run(tmp_path)
    edit_csv(run / "per_object.csv", lambda rows: rows.append(list(rows[1])))
    res = invoke("leaderboard", "--runs", tmp_path / "runs", "--ci", "--format", "csv")
    assert res.exit_code == 0, res.output
    assert "note: no interval or test for" in res.output and "appears twice" in res.output


def test_per_object_sequence_names_are_safe(tmp_path):
    run = copy_run(tmp_path)
    edit_csv(run / "per_object.csv", lambda rows: rows[1].__setitem__(0, "../victim"))
    with pytest.raises(InputFileError, match=r"per_object\.csv: line 2: sequence '\.\./victim' is not a single safe"):
        read_per_object(run)


def per_frame(run: Path, rows: list[str]) -> None:
    (run / "per_frame.csv").write_text("sequence,object,frame,J,F\n" + "\n".join(rows) + "\n")


def test_per_frame_rows_appear_once_and_hold_fractions(tmp_path):
    run = copy_run(tmp_path)
    per_frame(run, ["dog,1,00001,0.5,0.4", "dog,1,00002,0.6,0.5"])
    assert read_per_frame(run) == {"dog": {"1": [("00001", 0.5, 0.4), ("00002", 0.6, 0.5)]}}
    per_frame(run, ["dog,1,00001,0.5,0.4", "dog,1,00001,0.6,0.5"])
    with pytest.raises(InputFileError, match=r"per_frame\.csv: line 3: frame dog/1/00001 appears twice"):
        read_per_frame(run)
    per_frame(run, ["dog,1,00001,0.5,-4.0"])
    with pytest.raises(InputFileError, match=r"per_frame\.csv: line 2: F is -4\.0, outside \[0, 1\]"):
        read_per_frame(run)
    per_frame(run, ["../dog,1,00001,0.5,0.4"])
    with pytest.raises(InputFileError, match=r"per_frame\.csv: line 2: sequence '\.\./dog' is not a single safe"):
        read_per_frame(run)


def test_leaderboard_per_sequence_refuses_a_pck_out_of_range(tmp_path):
    run = copy_run(tmp_path, POSE_RUN)
    edit_csv(run / "per_video_pck.csv", lambda rows: rows[1].__setitem__(2, "45.0"))
    res = invoke("leaderboard", "--runs", tmp_path / "runs", "--per-sequence", "--dataset", "jhmdb-split1")
    assert_one_line_exit_2(res, str(run / "per_video_pck.csv"), "line 2", "PCK@0.1 is 45.0, outside [0, 1]")


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda rows: rows.append(list(rows[1])), r"line \d+: video '\w+' appears twice"),
        (lambda rows: rows[1].__setitem__(1, "-4"), r"line 2: n='-4' is not a count"),
        (lambda rows: rows[1].__setitem__(1, "2.5"), r"line 2: n='2.5' is not a count"),
        (lambda rows: rows[1].__setitem__(3, "nan1"), r"line 2: PCK@0.2='nan1' is not a number"),
        (lambda rows: rows[1].__setitem__(0, "a/b"), r"line 2: video 'a/b' is not a single safe"),
    ],
)
def test_per_video_pck_is_checked(tmp_path, edit, problem):
    run = copy_run(tmp_path, POSE_RUN)
    edit_csv(run / "per_video_pck.csv", edit)
    with pytest.raises(InputFileError, match=r"per_video_pck\.csv: " + problem):
        read_per_video_pck(run)
    if "count" not in problem and "PCK@0.2" not in problem:  # the leaderboard's reader needs neither
        with pytest.raises(InputFileError, match=r"per_video_pck\.csv: " + problem):
            per_video_pck(run)


def test_keypoint_rows_appear_once(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("frame,joint,x,y\n00001,0,1.0,2.0\n00001,1,nan,nan\n")
    assert read_keypoints(path)["00001"][0] == (1.0, 2.0)
    path.write_text("frame,joint,x,y\n00001,0,1.0,2.0\n00001,0,3.0,4.0\n")
    with pytest.raises(InputFileError, match=r"v\.csv: line 3: row for frame '00001', joint 0 appears twice"):
        read_keypoints(path)
    path.write_text("frame,joint,x,y\n00001,0,inf,2.0\n")
    with pytest.raises(InputFileError, match=r"v\.csv: line 2: x, y = \(inf, 2\.0\)"):
        read_keypoints(path)


def test_per_joint_pck_is_checked(tmp_path):
    (tmp_path / "per_joint_pck.csv").write_text("joint,n,PCK@0.1,PCK@0.2\nneck,10,0.5,\nbelly,10,0.25,0.75\n")
    joints, cols = read_per_joint_pck(tmp_path)
    assert joints == ["neck", "belly"] and cols["PCK@0.1"] == [0.5, 0.25] and math.isnan(cols["PCK@0.2"][0])
    (tmp_path / "per_joint_pck.csv").write_text("joint,n,PCK@0.1\nneck,10,0.5\nneck,10,0.25\n")
    with pytest.raises(InputFileError, match=r"per_joint_pck\.csv: row 3: joint 'neck' appears twice"):
        read_per_joint_pck(tmp_path)
    (tmp_path / "per_joint_pck.csv").write_text("joint,n,PCK@0.1\nneck,10,1.5\n")
    with pytest.raises(InputFileError, match=r"per_joint_pck\.csv: row 2: PCK@0.1 is 1\.5, outside"):
        read_per_joint_pck(tmp_path)


def test_load_clustered_reads_a_consistent_run(tmp_path):
    run = copy_run(tmp_path)
    assert len(load_clustered(load_record(run)).clusters) == len(read_per_object(run))


# --- plan.json and result.json --------------------------------------------------------------------


def committed(run: Path, name: str, **changes) -> None:
    result = {"sequence": name, "frames": 3, "timings": {"decode_s": 0.0}, "shard": "0/1", "launcher": "single",
              "process": "p", "device": "cpu", "process_started": 0.0, "committed_at": 1.0,
              "objects": [{"object": 1, "group": None, "J_mean": 0.5, "J_recall": 1.0, "J_decay": 0.0,
                           "F_mean": 0.5, "F_recall": 1.0, "F_decay": 0.0, "frames": ["00001"], "J_frames": [0.5],
                           "F_frames": [0.5]}]}
    result.update(changes)
    (run / "sequences" / name).mkdir(parents=True, exist_ok=True)
    (run / "sequences" / name / "result.json").write_text(json.dumps(result))


def test_a_result_belongs_to_the_sequence_it_claims(tmp_path):
    committed(tmp_path, "dog", sequence="cat")
    with pytest.raises(InputFileError, match=r"dog/result\.json: 'sequence' is 'cat'; expected 'dog'"):
        read_result(tmp_path, "dog")


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"objects": [{"object": 1, "group": None, "J_mean": -3.0, "J_recall": 1.0, "J_decay": 0.0, "F_mean": 0.5,
                       "F_recall": 1.0, "F_decay": 0.0, "frames": [], "J_frames": [], "F_frames": []}]},
         r"objects\[0\]: J_mean is -3\.0, outside \[0, 1\]"),
        ({"objects": 2 * [{"object": 1, "group": None, "J_mean": 0.5, "J_recall": 1.0, "J_decay": 0.0, "F_mean": 0.5,
                           "F_recall": 1.0, "F_decay": 0.0, "frames": [], "J_frames": [], "F_frames": []}]},
         r"objects\[1\]: object 1 appears twice"),
        ({"objects": [{"object": 1, "group": None, "J_mean": 0.5, "J_recall": 1.0, "J_decay": 0.0, "F_mean": 0.5,
                       "F_recall": 1.0, "F_decay": 0.0, "frames": ["1"], "J_frames": [7.0], "F_frames": [0.5]}]},
         r"objects\[0\]: J is 7\.0, outside"),
        ({"objects": None, "hits": [[3, 5]], "counts": [4, 4]}, r"'objects' is not a list"),
    ],
)
def test_a_result_holds_valid_scores(tmp_path, change, problem):
    committed(tmp_path, "dog", **change)
    with pytest.raises(InputFileError, match=r"dog/result\.json: " + problem):
        read_result(tmp_path, "dog")


def test_pck_hits_are_at_most_the_pairs_scored(tmp_path):
    committed(tmp_path, "dog", hits=[[3, 4]], counts=[4, 4])
    del_objects = json.loads((tmp_path / "sequences/dog/result.json").read_text())
    del del_objects["objects"]
    (tmp_path / "sequences/dog/result.json").write_text(json.dumps(del_objects))
    assert read_result(tmp_path, "dog")["hits"] == [[3, 4]]
    del_objects["hits"] = [[3, 5]]
    (tmp_path / "sequences/dog/result.json").write_text(json.dumps(del_objects))
    with pytest.raises(InputFileError, match=r"'hits' is not a list of rows of 2 whole numbers, each at most"):
        read_result(tmp_path, "dog")


def test_a_result_outside_the_run_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    committed(elsewhere, "dog")
    run = tmp_path / "run"
    (run / "sequences").mkdir(parents=True)
    os.symlink(elsewhere / "sequences" / "dog", run / "sequences" / "dog")
    with pytest.raises(InputFileError, match="resolves outside the run folder"):
        read_result(run, "dog")
    with pytest.raises(InputFileError, match=r"sequence '\.\./\.\./x' is not a single safe"):
        read_result(run, "../../x")


@pytest.mark.parametrize(
    "sequences, problem",
    [
        ([{"name": "dog", "frames": 3}, {"name": "dog", "frames": 3}], r"sequences\[1\]: sequence 'dog' appears twice"),
        ([{"name": "../../../../tmp/victim/forged", "frames": 3}], r"sequences\[0\]: sequence '.*forged' is not a single"),
        ([{"name": "dog", "frames": -1}], r"sequences\[0\]: expected"),
    ],
)
def test_a_plan_lists_each_safe_sequence_once(tmp_path, sequences, problem):
    plan = {"plan_version": 1, "record": a_record(), "config": {}, "sequences": sequences, "submission_prefix": None}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    with pytest.raises(InputFileError, match=r"plan\.json: " + problem):
        read_plan(tmp_path)


def test_settings_added_later_at_their_old_value_keep_the_identity(tmp_path):
    """A run of today's crw preset records first_in_window=false and mixing=joint; a record written
    before those settings existed lacks them: both are the same protocol (same identity, same
    leaderboard settings), while a run at another value is not."""
    from vosbench.records.reader import LATER_SETTINGS
    from vosbench.records.labels import identity

    old = copy_run(tmp_path / "old")
    new = copy_run(tmp_path / "new")
    other = copy_run(tmp_path / "other")
    for k in LATER_SETTINGS:  # first_in_window, mixing, references, border, align_corners
        edit_summary(old, lambda d, k=k: d["protocol"].pop(k, None))
    edit_summary(new, lambda d: d["protocol"].update(LATER_SETTINGS))
    edit_summary(other, lambda d: d["protocol"].update(first_in_window=True, mixing="joint"))
    assert identity(load_record(old)) == identity(load_record(new))
    assert identity(load_record(other)) != identity(load_record(new))
    assert "first_in_window=true" in identity(load_record(other))[4]
