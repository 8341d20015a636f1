"""`vosbench run` end to end: real DAVIS-2016 sample, records, predictions, error cases."""

from __future__ import annotations

import csv
import json
import shutil
from functools import partial

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vosbench.cli.main import cli
from tests.support import cli as support_cli


invoke = partial(support_cli.invoke, catch_exceptions=False)


@pytest.fixture(scope="module")
def lab_run(davis16_mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    res = invoke(
        "run", "--model", "lab", "--dataset", "davis16-val", "--data-root", str(davis16_mini),
        "--sequences", "car-shadow", "--out", str(out), "--device", "cpu",
    )
    assert res.exit_code == 0, res.output
    (run_dir,) = list((out / "davis16-val" / "lab").iterdir())
    return run_dir


def test_run_writes_predictions_for_every_gt_frame(lab_run, davis16_mini):
    gt_dir = davis16_mini / "Annotations/480p/car-shadow"
    gt_names = sorted(p.name for p in gt_dir.glob("*.png"))
    pred_names = sorted(p.name for p in (lab_run / "predictions/car-shadow").glob("*.png"))
    assert pred_names == gt_names
    im = Image.open(lab_run / "predictions/car-shadow" / gt_names[5])
    assert im.mode == "P" and im.size == (854, 480)
    assert set(np.unique(np.asarray(im))) <= {0, 1}
    first = np.asarray(Image.open(lab_run / "predictions/car-shadow/00000.png"))
    assert np.array_equal(first, (np.asarray(Image.open(gt_dir / "00000.png")) > 128).astype(np.uint8))


def test_run_record(lab_run, davis16_mini):
    rec = json.loads((lab_run / "summary.json").read_text())
    assert rec["status"] == "complete" and rec["task"] == "vos"
    assert rec["model"]["name"] == "lab" and rec["dataset"]["name"] == "davis16-val"
    assert rec["dataset"]["sequences"] == ["car-shadow"]
    assert rec["protocol"]["name"] == "crw" and rec["protocol"]["version"] >= 1
    assert rec["protocol"]["topk"] == 10 and rec["protocol"]["radius"] == 12.0 and rec["protocol"]["context"] == 20
    assert rec["protocol"]["temperature"] == 0.05
    m = rec["metrics"]
    assert 0 <= m["J_mean"] <= 1 and abs(m["JF_mean"] - (m["J_mean"] + m["F_mean"]) / 2) < 1e-12
    for key in ("features_s", "propagation_s", "evaluation_s", "frames_per_s", "peak_memory_mb"):
        assert rec["timings"][key] is not None
    assert rec["timings"]["frames"] == 40
    assert rec["environment"]["torch"] and rec["environment"]["device"] == "cpu"
    rows = list(csv.DictReader((lab_run / "per_object.csv").open()))
    assert list(rows[0]) == ["sequence", "object", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"]


def test_run_scores_equal_standalone_eval(lab_run, davis16_mini, tmp_path):
    out_csv = tmp_path / "scores.csv"
    res = invoke(
        "eval", "--gt", str(davis16_mini / "Annotations/480p"), "--pred", str(lab_run / "predictions"),
        "--sequences", "car-shadow", "--out", str(out_csv),
    )
    assert res.exit_code == 0, res.output
    assert out_csv.read_text() == (lab_run / "per_object.csv").read_text()
    summary = json.loads(out_csv.with_suffix(".summary.json").read_text())
    rec = json.loads((lab_run / "summary.json").read_text())
    got = summary.get("metrics", summary)
    for key, val in rec["metrics"].items():
        assert abs(got[key] - val) < 1e-12, key


def test_identity_run_reproduces_official_reference(davis16_mini, tmp_path):
    """identity = frame-0 mask copied: the official evaluation's numbers (shared reference CSV)."""
    res = invoke(
        "run", "--model", "identity", "--dataset", "davis16-val", "--data-root", str(davis16_mini), "--out", str(tmp_path),
        "--device", "cpu",
    )
    assert res.exit_code == 0, res.output
    (run_dir,) = list((tmp_path / "davis16-val/identity").iterdir())
    ours = {r["sequence"]: r for r in csv.DictReader((run_dir / "per_object.csv").open())}
    ref = list(csv.DictReader((davis16_mini / "reference/identity_official_metrics.csv").open()))
    assert len(ref) == 6
    for r in ref:
        for key in ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"):
            assert abs(float(ours[r["sequence"]][key]) - float(r[key])) < 1e-6, (r["sequence"], key)
    rec = json.loads((run_dir / "summary.json").read_text())
    assert abs(rec["metrics"]["JF_mean"] - 0.2655281305) < 1e-6


def test_run_on_davis17_layout_multi_object(tiny_davis17, tmp_path):
    res = invoke("run", "--model", "lab", "--dataset", "davis17-val", "--data-root", str(tiny_davis17), "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    (run_dir,) = list((tmp_path / "davis17-val/lab").iterdir())
    rows = list(csv.DictReader((run_dir / "per_object.csv").open()))
    assert [(r["sequence"], r["object"]) for r in rows] == [("seq0", "1"), ("seq0", "2"), ("seq1", "1"), ("seq1", "2")]
    assert "J&F" in res.output and "run folder" in res.output


def test_test_dev_writes_submission_zip(tiny_davis17, tmp_path):
    import zipfile

    sets = tiny_davis17 / "ImageSets/2017"
    shutil.copy(sets / "val.txt", sets / "test-dev.txt")
    for seq in ("seq0", "seq1"):  # test-dev: only frame 0 is annotated
        for p in (tiny_davis17 / "Annotations/480p" / seq).glob("*.png"):
            if p.stem != "00000":
                p.unlink()
    res = invoke("run", "--model", "lab", "--dataset", "davis17-test-dev", "--data-root", str(tiny_davis17), "--out", str(tmp_path))
    assert res.exit_code == 0, res.output
    (run_dir,) = list((tmp_path / "davis17-test-dev/lab").iterdir())
    names = zipfile.ZipFile(run_dir / "submission.zip").namelist()
    assert sorted(names) == sorted(f"{s}/{t:05d}.png" for s in ("seq0", "seq1") for t in range(6))


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--model", "resnet81"], "Did you mean: resnet18"),
        (["--dataset", "davis17-vall"], "davis17-val"),
        (["--data-root", "/nonexistent/DAVIS"], "does not exist"),
        (["--sequences", "nope"], "unknown sequence"),
        (["--topk", "zero"], "topk"),
        (["--device", "tpu"], "--device"),
    ],
)
def test_run_bad_arguments_exit_2(tiny_davis17, tmp_path, args, needle):
    base = {"--model": "lab", "--dataset": "davis17-val", "--data-root": str(tiny_davis17)}
    merged = dict(base)
    extra: list[str] = []
    for i in range(0, len(args), 2):
        if args[i] in merged:
            merged[args[i]] = args[i + 1]
        else:
            extra += args[i : i + 2]
    argv = ["run", *sum(([k, v] for k, v in merged.items()), []), *extra, "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output


def test_missing_first_frame_annotation(tiny_davis17, tmp_path):
    (tiny_davis17 / "Annotations/480p/seq1/00000.png").unlink()
    res = CliRunner().invoke(cli, ["run", "--dataset", "davis17-val", "--data-root", str(tiny_davis17), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "first-frame annotation" in res.output and "seq1" in res.output


def test_mismatched_frame_and_annotation_counts(tiny_davis17, tmp_path):
    (tiny_davis17 / "Annotations/480p/seq0/00003.png").unlink()
    res = CliRunner().invoke(cli, ["run", "--dataset", "davis17-val", "--data-root", str(tiny_davis17), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "6 frames" in res.output and "00003" in res.output


def test_corrupt_jpeg_keeps_work_done(tiny_davis17, tmp_path):
    bad = tiny_davis17 / "JPEGImages/480p/seq1/00004.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    res = CliRunner().invoke(cli, ["run", "--dataset", "davis17-val", "--data-root", str(tiny_davis17), "--out", str(tmp_path)])
    assert res.exit_code == 2, res.output
    assert "00004.jpg" in res.output and "corrupt" in res.output
    (run_dir,) = list((tmp_path / "davis17-val/lab").iterdir())
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["status"] == "failed"
    assert len(list((run_dir / "predictions/seq0").glob("*.png"))) == 6  # the finished sequence is kept


def test_list_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from vosbench.cli.main import main; sys.argv=['vosbench','list','models'];\n" \
           "try:\n main()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "resnet18" in r.stdout


def test_half_precision_runs_are_never_merged_with_fp32(tiny_davis17, tmp_path):
    from vosbench.records.reader import find_records
    from vosbench.records.labels import identity

    for precision in ("fp32", "bf16"):
        res = invoke(
            "run", "--model", "lab", "--dataset", "davis17-val", "--data-root", str(tiny_davis17),
            "--precision", precision, "--out", str(tmp_path),
        )
        assert res.exit_code == 0, res.output
    recs = find_records(tmp_path)
    assert len(recs) == 2 and len({identity(r) for r in recs}) == 2
    board = invoke("leaderboard", "--runs", str(tmp_path)).output
    assert "precision=bf16" in board
