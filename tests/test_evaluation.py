"""Folder evaluation and `vosbench eval`: official reference numbers, vos-benchmark conformance, errors."""

from __future__ import annotations

import csv
import json
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosbench.core.errors import InputFileError
from vosbench.core.labels import decode_label_png
from vosbench.evaluate.davis import evaluate_folders
from vosbench.core.labels import write_label_png
from vosbench.scoring.jf import SequenceScorer
from tests.support.cli import invoke

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "davis16-val-mini"
GT16 = DATA / "Annotations" / "480p"
REFERENCE = DATA / "reference" / "identity_official_metrics.csv"
needs_data = pytest.mark.skipif(not REFERENCE.is_file(), reason=f"real DAVIS-2016 sample not found at {DATA}")
COLS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")


def reference() -> dict[tuple[str, int], dict[str, float]]:
    with open(REFERENCE, newline="") as f:
        return {(r["sequence"], int(r["object"])): {k: float(r[k]) for k in COLS} for r in csv.DictReader(f)}


run_cli = partial(invoke, "eval")


def vos_benchmark_means(gt: Path, pred: Path, tmp: Path) -> dict[tuple[str, int], tuple[float, float]]:
    """Per-object (J-Mean, F-Mean) fractions from vos-benchmark, run on a private copy of ``pred``."""
    from vos_benchmark.benchmark import benchmark

    copy = tmp / f"vb_{pred.name}"
    shutil.copytree(pred, copy)  # it writes results.csv into the folder it scores
    _, _, _, objs = benchmark([str(gt)], [str(copy)], num_processes=2, verbose=False)
    return {(seq, int(k)): (j[k] / 100, f[k] / 100) for seq, (j, f) in objs[0].items() for k in j}


@pytest.fixture(scope="module")
def identity_pred(tmp_path_factory) -> Path:
    """Identity predictions of the real sample (frame-0 mask on every frame), 0/255 greyscale PNGs."""
    if not REFERENCE.is_file():
        pytest.skip(f"real DAVIS-2016 sample not found at {DATA}")
    out = tmp_path_factory.mktemp("identity") / "pred"
    for seq in sorted(p for p in GT16.iterdir() if p.is_dir()):
        frames = sorted(seq.glob("*.png"))
        (out / seq.name).mkdir(parents=True)
        first = np.asarray(Image.open(frames[0]))
        for f in frames:
            Image.fromarray(first).save(out / seq.name / f.name)
    return out


# ---------------------------------------------------------------- official reference numbers
@needs_data
def test_in_memory_scorer_reproduces_official_identity_numbers():
    ref = reference()
    assert len(ref) == 6
    for seq in sorted({s for s, _ in ref}):
        frames = sorted((GT16 / seq).glob("*.png"))
        scorer = SequenceScorer(seq)
        first = None
        for f in frames:
            gt, _ = decode_label_png(f)
            gt = (gt > 128).astype(np.uint8)  # DAVIS-2016 rule: object 1 = value > 128
            first = gt if first is None else first
            scorer.add(gt, first, f.stem)
        (score,) = scorer.result()
        for k in COLS:
            assert getattr(score, k) == pytest.approx(ref[(seq, 1)][k], abs=1e-6), (seq, k)


@needs_data
def test_cli_reproduces_official_numbers_and_writes_only_out(identity_pred, tmp_path):
    before = sorted(p.relative_to(identity_pred) for p in identity_pred.rglob("*"))
    out = tmp_path / "res" / "scores.csv"
    res = run_cli("--gt", GT16, "--pred", identity_pred, "--workers", 2, "--out", out)
    assert res.exit_code == 0, res.output
    assert "26.6" in res.output and "blackswan" in res.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["sequence", "object", *COLS]
    ref = reference()
    assert {(r["sequence"], int(r["object"])) for r in rows} == set(ref)
    for r in rows:
        for k in COLS:
            assert float(r[k]) == pytest.approx(ref[(r["sequence"], 1)][k], abs=1e-6)
    summary = json.loads((tmp_path / "res" / "scores.summary.json").read_text())
    assert summary["JF_mean"] == pytest.approx(0.2655281305, abs=1e-9)
    assert all(summary["binary_gt"].values())
    assert sorted(p.relative_to(identity_pred) for p in identity_pred.rglob("*")) == before


@needs_data
def test_conformance_with_vos_benchmark_on_real_sample(identity_pred, tmp_path):
    ours = evaluate_folders(GT16, identity_pred, workers=2)
    theirs = vos_benchmark_means(GT16, identity_pred, tmp_path)
    # 0/255 masks: vos-benchmark calls the object 255, the DAVIS-2016 rule calls it 1
    theirs = {(s, 1 if k == 255 else k): v for (s, k), v in theirs.items()}
    assert {(s.sequence, s.object) for s in ours.scores} == set(theirs)
    for s in ours.scores:
        j, f = theirs[(s.sequence, s.object)]
        assert s.J_mean == pytest.approx(j, abs=1e-6) and s.F_mean == pytest.approx(f, abs=1e-6)


@needs_data
def test_palette_predictions_and_one_worker_give_the_same_numbers(identity_pred, tmp_path):
    seq = "car-shadow"
    pal = tmp_path / "pal"
    for f in sorted((identity_pred / seq).glob("*.png")):
        write_label_png(pal / seq / f.name, (np.asarray(Image.open(f)) > 128).astype(np.uint8))
    a = evaluate_folders(GT16, identity_pred, sequences=[seq], workers=1).scores
    b = evaluate_folders(GT16, pal, sequences=[seq], workers=1).scores
    assert [(s.J_mean, s.F_mean, s.J_decay) for s in a] == [(s.J_mean, s.F_mean, s.J_decay) for s in b]
    assert b[0].J_mean == pytest.approx(reference()[(seq, 1)]["J_mean"], abs=1e-6)


# ---------------------------------------------------------------- generated multi-object cases
def disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def make_gt(n: int, ids: tuple[int, ...], h: int = 72, w: int = 104) -> list[np.ndarray]:
    """Moving discs/boxes, every object visible in frames 0 and 1; the last one touches the border."""
    out = []
    for t in range(n):
        g = np.zeros((h, w), np.uint8)
        for i, k in enumerate(ids):
            if i == len(ids) - 1:
                g[: 20 + t, w - 15 - t :] = k  # a box in the top-right corner, growing
            else:
                g[disc(h, w, 20 + 25 * i + t, 20 + 30 * i + 2 * t, 9 + i * 3)] = k
        out.append(g)
    return out


def variants(gts: list[np.ndarray], name: str, rng: np.random.Generator) -> list[np.ndarray]:
    from scipy import ndimage

    if name == "eroded":
        return [np.where(ndimage.binary_erosion(g > 0, iterations=3), g, 0).astype(np.uint8) for g in gts]
    if name == "shifted":
        return [np.roll(g, (3, -4), axis=(0, 1)) for g in gts]
    if name == "dropped":  # object 2 missing from every other frame, object 1 from the last frames
        out = []
        for t, g in enumerate(gts):
            p = g.copy()
            if t % 2:
                p[p == 2] = 0
            if t > len(gts) // 2:
                p[p == 1] = 0
            out.append(p)
        return out
    if name == "swapped":  # ids 1 and 2 exchanged from frame 3 on
        return [g if t < 3 else np.choose(g, [0, 2, 1, 3]).astype(np.uint8) for t, g in enumerate(gts)]
    if name == "empty":
        return [np.zeros_like(g) for g in gts]
    if name == "noisy":
        out = []
        for g in gts:
            p = g.copy()
            flip = rng.random(g.shape) < 0.02
            p[flip] = rng.integers(0, 4, size=int(flip.sum()))
            out.append(p)
        return out
    raise ValueError(name)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("generated")
    rng = np.random.default_rng(7)
    for name in ("eroded", "shifted", "dropped", "swapped", "empty", "noisy"):
        gts = make_gt(9, (1, 2, 3))
        for t, (g, p) in enumerate(zip(gts, variants(gts, name, rng))):
            write_label_png(root / "gt" / name / f"{t:05d}.png", g)
            write_label_png(root / "pred" / name / f"{t:05d}.png", p)
    return root / "gt", root / "pred"


def test_conformance_with_vos_benchmark_on_generated_multi_object_cases(generated, tmp_path):
    gt, pred = generated
    ours = evaluate_folders(gt, pred, workers=2).scores
    theirs = vos_benchmark_means(gt, pred, tmp_path)
    assert len(ours) == 18 and {(s.sequence, s.object) for s in ours} == set(theirs)
    for s in ours:
        j, f = theirs[(s.sequence, s.object)]
        assert s.J_mean == pytest.approx(j, abs=1e-6), (s.sequence, s.object)
        assert s.F_mean == pytest.approx(f, abs=1e-6), (s.sequence, s.object)
    by = {(s.sequence, s.object): s for s in ours}
    assert by[("empty", 1)].J_mean == 0.0 and by[("eroded", 1)].F_mean < 1.0
    assert 0.0 < by[("swapped", 1)].J_mean < 1.0


def test_non_contiguous_ids_follow_the_official_object_rule(tmp_path):
    # ids {1, 3} in frame 0: objects are 1, 2, 3 (2 absent everywhere scores 1 when never predicted)
    gts = make_gt(5, (1, 3))
    for t, g in enumerate(gts):
        write_label_png(tmp_path / "gt" / "nc" / f"{t:05d}.png", g)
        write_label_png(tmp_path / "pred" / "nc" / f"{t:05d}.png", np.roll(g, 2, axis=1))
    scores = evaluate_folders(tmp_path / "gt", tmp_path / "pred", workers=1).scores
    assert [s.object for s in scores] == [1, 2, 3]
    assert (scores[1].J_mean, scores[1].F_mean) == (1.0, 1.0)
    theirs = vos_benchmark_means(tmp_path / "gt", tmp_path / "pred", tmp_path)
    for s in (scores[0], scores[2]):
        assert (s.J_mean, s.F_mean) == pytest.approx(theirs[("nc", s.object)], abs=1e-6)


# ---------------------------------------------------------------- bad input
@pytest.fixture
def small(tmp_path) -> tuple[Path, Path]:
    gts = make_gt(5, (1, 2))
    for t, g in enumerate(gts):
        write_label_png(tmp_path / "gt" / "seq" / f"{t:05d}.png", g)
        write_label_png(tmp_path / "pred" / "seq" / f"{t:05d}.png", g)
    return tmp_path / "gt", tmp_path / "pred"


def test_small_folder_scores_one_and_skips_first_last_predictions(small):
    gt, pred = small
    (pred / "seq" / "00000.png").unlink()  # first and last predictions are never read
    (pred / "seq" / "00004.png").write_bytes(b"not a png")
    res = run_cli("--gt", gt, "--pred", pred, "--workers", 1)
    assert res.exit_code == 0, res.output
    assert "100.0" in res.output and "Nothing written" in res.output


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_frame", r"1 prediction frame\(s\) missing \(00002.png\)"),
        ("size", r"prediction is 100x72 but the GT is 104x72"),
        ("corrupt", r"00001.png: cannot read PNG"),
        ("bad_id", r"predicted id 5 is not an object of the GT"),
        ("colour", r"colour or multi-channel PNG \(mode RGB\)"),
        ("missing_seq", r"no predictions for sequence 'seq'"),
        ("empty_gt", r"no sequence folders with PNG annotations"),
        ("empty_pred", r"prediction folder holds no sequence folders"),
        ("unknown_seq", r"no GT sequence 'sek' \(did you mean seq\?\)"),
        ("out_inside_pred", r"lies inside the prediction folder"),
    ],
)
def test_bad_input_gives_one_clear_error_and_exit_code_2(small, tmp_path, case, message):
    gt, pred = small
    extra: list[str] = []
    p = pred / "seq"
    if case == "missing_frame":
        (p / "00002.png").unlink()
    elif case == "size":
        write_label_png(p / "00002.png", np.zeros((72, 100), np.uint8))
    elif case == "corrupt":
        (p / "00001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    elif case == "bad_id":
        write_label_png(p / "00003.png", np.full((72, 104), 5, np.uint8))
    elif case == "colour":
        Image.new("RGB", (104, 72)).save(p / "00001.png")
    elif case == "missing_seq":
        shutil.rmtree(p)
        (pred / "other").mkdir()
    elif case == "empty_gt":
        gt = tmp_path / "nothing"
        gt.mkdir()
    elif case == "empty_pred":
        shutil.rmtree(p)
    elif case == "unknown_seq":
        extra = ["--sequences", "sek"]
    elif case == "out_inside_pred":
        extra = ["--out", str(pred / "scores.csv")]
    res = run_cli("--gt", gt, "--pred", pred, "--workers", 2, *extra)
    assert res.exit_code == 2, res.output
    assert res.output.count("Error:") == 1
    import re

    assert re.search(message, res.output.replace("\n", "")), res.output
    assert not (pred / "scores.csv").exists()


def test_library_raises_input_file_error_for_bad_ids(small):
    gt, pred = small
    write_label_png(pred / "seq" / "00002.png", np.full((72, 104), 9, np.uint8))
    with pytest.raises(InputFileError, match=r"seq/00002: predicted id 9 .*prediction .*00002.png"):
        evaluate_folders(gt, pred, workers=1)


def test_help_ends_with_examples():
    res = run_cli("--help")
    assert res.exit_code == 0 and "Examples:" in res.output and "--binary / --no-binary" in res.output


def test_errors_in_worker_processes_reach_the_caller(small):
    gt, pred = small
    for root in (gt, pred):
        shutil.copytree(root / "seq", root / "seq2")
    write_label_png(pred / "seq2" / "00001.png", np.full((72, 104), 7, np.uint8))
    with pytest.raises(InputFileError, match=r"seq2/00001: predicted id 7"):
        evaluate_folders(gt, pred, workers=2)
    (pred / "seq2" / "00001.png").unlink()
    shutil.copy(pred / "seq2" / "00002.png", pred / "seq2" / "00001.png")
    res = evaluate_folders(gt, pred, workers=2)
    assert [s.sequence for s in res.scores] == ["seq", "seq", "seq2", "seq2"]


def test_out_through_a_symbolic_link_loop_is_one_line(small, tmp_path):
    gt, pred = small
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    res = run_cli("--gt", gt, "--pred", pred, "--workers", 1, "--out", loop / "scores.csv")
    assert res.exit_code == 2, res.output
    assert res.output.count("Error:") == 1 and str(loop / "scores.csv") in res.output
    assert res.output.startswith("Error:") and "does not resolve" in res.output  # before any scoring
