"""`vosbench eval --benchmark ytvos|jhmdb`: scores of another tool's outputs equal a run's own scores
for the same predictions, checked against numbers computed here from the files, and bad inputs stop
with one line naming the file (exit 2)."""

from __future__ import annotations

import csv
import json
import math
import shutil
import struct
import subprocess
import sys
import zipfile
from functools import partial

import numpy as np
import pytest
import scipy.io
from PIL import Image

import vosbench
from vosbench.core.errors import ConfigError

from tests.support import cli as support_cli

invoke = partial(support_cli.invoke, code=0, terminal_width=1000)


# -- YouTube-VOS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ytvos(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "ytvos"
    runs = tmp_path_factory.mktemp("runs")
    # video 0 of the generator has an object that first appears mid-video
    invoke("data", "synth", "ytvos", "--out", data, "--videos", "2", "--frames", "5", "--size", "96x64")
    invoke("run", "--model", "lab", "--dataset", "synthetic-ytvos", "--data-root", data, "--out", runs)
    (run_dir,) = list((runs / "synthetic-ytvos" / "lab").iterdir())
    return data, run_dir


def _yt_args(data, pred, *extra):
    return ("eval", "--benchmark", "ytvos", "--gt", data / "valid_gt" / "Annotations",
            "--meta", data / "valid" / "meta.json", "--pred", pred, *extra)


def _ids(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _independent_j(data, pred_dir) -> dict[tuple[str, int], float]:
    """J-Mean per object straight from meta.json and the PNGs: IoU on the meta frames after the
    object's first one, the video's last frame left out."""
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    out = {}
    for vid, entry in meta.items():
        frames = sorted({f for o in entry["objects"].values() for f in o["frames"]}, key=int)
        for oid, o in entry["objects"].items():
            k = int(oid)
            scored = [f for f in frames[:-1] if int(f) > int(o["frames"][0])]
            js = []
            for f in scored:
                g = _ids(data / "valid_gt" / "Annotations" / vid / f"{f}.png") == k
                p = _ids(pred_dir / vid / f"{f}.png") == k
                union = (g | p).sum()
                js.append(1.0 if union == 0 else (g & p).sum() / union)
            out[(vid, k)] = float(np.mean(js)) if js else math.nan
    return out


@pytest.mark.parametrize("source,workers", [("zip", "1"), ("zip", "2"), ("folder", "1"), ("folder", "2")])
def test_ytvos_equals_the_run_and_independent_numbers(ytvos, tmp_path, source, workers):
    """In this process (1) or in worker processes (2; each opens the zip itself): the same numbers."""
    data, run_dir = ytvos
    pred = run_dir / "submission.zip" if source == "zip" else run_dir / "predictions"
    out = tmp_path / "yt.csv"
    res = invoke(*_yt_args(data, pred, "--out", out, "--workers", workers))
    assert "YouTube-VOS overall" in res.output and res.output.count("overall") == 1
    # per-object CSV byte for byte, summary metrics exactly
    assert out.read_text() == (run_dir / "per_object.csv").read_text()
    mine = json.loads((tmp_path / "yt.summary.json").read_text())
    run = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert {k: mine[k] for k in run} == run
    assert mine["kind"] == "eval" and mine["benchmark"] == "ytvos"
    four = [mine[k] for k in ("J_seen", "F_seen", "J_unseen", "F_unseen")]
    assert None not in four and mine["overall"] == pytest.approx(sum(four) / 4, abs=1e-12)
    # J of each object recomputed here from the files
    rows = list(csv.DictReader(out.open()))
    indep = _independent_j(data, run_dir / "predictions")
    assert len(rows) == len(indep)
    late = 0
    for r in rows:
        want = indep[(r["sequence"], int(r["object"]))]
        assert float(r["J_mean"]) == pytest.approx(want, abs=1e-12) or (math.isnan(want) and r["J_mean"] == "nan")
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    for entry in meta.values():
        firsts = [int(o["frames"][0]) for o in entry["objects"].values()]
        late += sum(f > min(firsts) for f in firsts)
    assert late, "the synthetic set must have an object that first appears mid-video"


def test_one_scorer_set_up_for_runs_and_eval():
    """The scorer a run and `vosbench eval` share: an object is scored from the frame after its first
    appearance, by frame name (eval) or frame index (run) alike; without starts, the DAVIS rule."""
    from vosbench.evaluate.base import sequence_scorer

    def disc(h, w, cy, cx, r, k):
        yy, xx = np.mgrid[:h, :w]
        return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8) * k

    gts = [disc(40, 50, 20, 15 + 2 * t, 8, 1) + (disc(40, 50, 20, 44, 5, 2) if t >= 2 else 0) for t in range(6)]
    preds = [g.copy() for g in gts]
    preds[1][preds[1] == 1] = 0  # frame 1: object 1 missed; object 2 not there yet (and not scored)
    for scored, starts in ((["a", "b", "c", "d", "e", "f"], {1: "a", 2: "c"}), (list(range(6)), {1: 0, 2: 2})):
        scorer = sequence_scorer("v", scored, starts)
        for t, (g, pr) in enumerate(zip(gts, preds)):
            scorer.add(g, pr, f"{t:05d}")
        one, two = scorer.result()
        assert scorer.objects == [1, 2]
        assert one.J_frames.tolist() == [0.0, 1.0, 1.0, 1.0]  # frames 1-4; the last is never scored
        assert np.isnan(two.J_frames[:2]).all() and two.J_frames[2:].tolist() == [1.0, 1.0]
        assert two.J_mean == 1.0 and one.J_mean == 0.75
    davis = sequence_scorer("v", list(range(6)), {})
    davis.add(gts[0], None)
    assert davis.objects == [1]  # the ids of the first GT frame


def test_a_run_scores_through_the_shared_scorer(ytvos):
    """runs.vos.scorer_for is the shared set-up applied to a dataset sequence: same objects and frames."""
    from vosbench.datasets.factory import load_dataset
    from vosbench.datasets.ytvos import meta_frames
    from vosbench.evaluate.ytvos import video_scorer
    from vosbench.runs.vos import scorer_for

    data, _ = ytvos
    ds = load_dataset("synthetic-ytvos", data)
    for name in ds.sequence_names():
        seq = ds.sequence(name)
        frames, scorer = video_scorer(name, ds.meta[name])
        assert [seq.frames[t] for t in sorted(seq.gt)] == frames == meta_frames(ds.meta[name])
        assert scorer_for(seq).objects == scorer.objects == sorted(ds.meta[name])


def test_ytvos_unseen_file_and_no_categories(ytvos, tmp_path):
    data, run_dir = ytvos
    empty = tmp_path / "none.txt"
    empty.write_text("")
    out = tmp_path / "a.csv"
    invoke(*_yt_args(data, run_dir / "submission.zip", "--unseen", empty, "--out", out))
    m = json.loads((tmp_path / "a.summary.json").read_text())
    assert m["J_unseen"] is None and m["F_unseen"] is None and m["unseen_categories"] == []
    assert m["J_seen"] == pytest.approx(m["J_mean"], abs=1e-12)  # every object is seen
    assert m["overall"] == pytest.approx((m["J_mean"] + m["F_mean"]) / 2, abs=1e-12)
    # a copy of the set without unseen_categories.txt nor train/meta.json: no split, no overall
    bare = tmp_path / "bare"
    shutil.copytree(data / "valid", bare / "valid")
    res = invoke(*_yt_args(data, run_dir / "submission.zip", "--meta", bare / "valid" / "meta.json"))
    text = " ".join(res.output.split())  # rich wraps lines
    assert "no seen/unseen split" in text and "J seen" not in text


def _zip_with(src, dst, extra: dict[str, bytes] | None = None, drop: str | None = None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if drop is None or not info.filename.endswith(drop):
                zout.writestr(info, zin.read(info))
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


def test_ytvos_hostile_or_incomplete_zip(ytvos, tmp_path):
    data, run_dir = ytvos
    z = run_dir / "submission.zip"
    png = zipfile.ZipFile(z).read(zipfile.ZipFile(z).namelist()[-1])
    for name in ("Annotations/../../evil.png", "/abs/evil.png", "Annotations/v\\x/00000.png"):
        bad = tmp_path / "bad.zip"
        _zip_with(z, bad, {name: png})
        res = invoke(*_yt_args(data, bad), code=2)
        assert str(bad) in res.output and "not a single safe" in res.output
    assert not (tmp_path.parent / "evil.png").exists()
    # a scored frame missing from the zip
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    vid = sorted(meta)[0]
    frames = sorted({f for o in meta[vid]["objects"].values() for f in o["frames"]}, key=int)
    short = tmp_path / "short.zip"
    _zip_with(z, short, drop=f"{vid}/{frames[1]}.png")
    res = invoke(*_yt_args(data, short), code=2)
    assert f"{short}:Annotations/{vid}/{frames[1]}.png" in res.output
    # not a zip at all
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert str(junk) in invoke(*_yt_args(data, junk), code=2).output


def _forged(src, dst, *, flags: int = 0, method: int | None = None, sizes: dict[str, int] | None = None):
    """A copy of zip ``src`` with its members' header fields changed: general-purpose ``flags`` ORed in
    (bit 0: encrypted), the compression ``method`` (local and central headers), the uncompressed size
    that the central directory declares for the members named in ``sizes``."""
    b = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as zf:
        infos, pos = zf.infolist(), zf.start_dir
    for info in infos:
        assert b[pos:pos + 4] == b"PK\x01\x02"
        loc = info.header_offset
        if flags:
            for off in (loc + 6, pos + 8):
                struct.pack_into("<H", b, off, struct.unpack_from("<H", b, off)[0] | flags)
        if method is not None:
            struct.pack_into("<H", b, loc + 8, method)
            struct.pack_into("<H", b, pos + 10, method)
        if sizes and info.filename in sizes:
            struct.pack_into("<I", b, pos + 24, sizes[info.filename])
        pos += 46 + sum(struct.unpack_from("<HHH", b, pos + 28))
    dst.write_bytes(bytes(b))


def _one_line_error(res, *parts) -> str:
    """The output holds exactly one error line, without a traceback, naming every part."""
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    for part in parts:
        assert str(part) in errors[0], errors[0]
    return errors[0]


def _scored_member(data, z) -> str:
    """A member that the scoring reads (a frame between the first and the last of a video)."""
    meta = json.loads((data / "valid" / "meta.json").read_text())["videos"]
    vid = sorted(meta)[0]
    frames = sorted({f for o in meta[vid]["objects"].values() for f in o["frames"]}, key=int)
    name = f"Annotations/{vid}/{frames[1]}.png"
    assert name in zipfile.ZipFile(z).namelist()
    return name


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("case", ["encrypted", "method"])
def test_ytvos_encrypted_or_unknown_compression_member(ytvos, tmp_path, case, workers):
    """Members flagged as encrypted or packed with a method zipfile cannot read: one line naming the zip
    and the member (they used to end in a traceback, exit 1)."""
    data, run_dir = ytvos
    bad = tmp_path / f"{case}.zip"
    _forged(run_dir / "submission.zip", bad, **({"flags": 0x1} if case == "encrypted" else {"method": 99}))
    res = invoke(*_yt_args(data, bad, "--workers", workers), code=2)
    first = zipfile.ZipFile(run_dir / "submission.zip").namelist()[0]
    line = _one_line_error(res, bad, repr(first))
    assert ("is encrypted" in line) if case == "encrypted" else ("compression method 99" in line)


def test_ytvos_zip_bombs_are_refused(ytvos, tmp_path, monkeypatch):
    """Declared and actual member sizes, the members' total and their count are bounded (README)."""
    from vosbench.evaluate import ytvos as ev_ytvos

    data, run_dir = ytvos
    z = run_dir / "submission.zip"
    scored = _scored_member(data, z)
    # a member that declares more than 64 MiB
    big = tmp_path / "big.zip"
    _forged(z, big, sizes={scored: ev_ytvos.MAX_MEMBER_BYTES + 1})
    _one_line_error(invoke(*_yt_args(data, big), code=2), big, repr(scored), "limit 67108864")
    # a member that holds more bytes than it declares: zipfile stops at the declared size, the CRC fails
    small = tmp_path / "small.zip"
    _forged(z, small, sizes={scored: 10})
    _one_line_error(invoke(*_yt_args(data, small), code=2), f"{small}:{scored}", "cannot read zip member")
    # members never scored (frames meta.json does not list) that declare more than 4 GiB in all
    padded = tmp_path / "padded.zip"
    extra = {f"Annotations/{scored.split('/')[1]}/9{i:04d}.png": b"x" for i in range(70)}
    _zip_with(z, padded, extra)
    each = 62 * 1024 * 1024  # under the member limit; 70 of them exceed 4 GiB
    bomb = tmp_path / "bomb.zip"
    _forged(padded, bomb, sizes={name: each for name in extra})
    _one_line_error(invoke(*_yt_args(data, bomb), code=2), bomb, "limit 4294967296")
    invoke(*_yt_args(data, padded))  # the same members with their true sizes are ignored
    # more members than the limit (lowered here; the scoring runs in this process)
    n = len(zipfile.ZipFile(padded).infolist())
    monkeypatch.setattr(ev_ytvos, "MAX_MEMBERS", n - 1, raising=False)
    _one_line_error(invoke(*_yt_args(data, padded, "--workers", "1"), code=2), padded, f"{n} zip members")


def test_out_never_replaces_the_zip_it_scores(ytvos, tmp_path):
    data, run_dir = ytvos
    z = tmp_path / "submission.zip"
    shutil.copy(run_dir / "submission.zip", z)
    before = z.read_bytes()
    res = invoke(*_yt_args(data, z, "--out", z), code=2)
    _one_line_error(res, "lies inside the prediction")
    assert z.read_bytes() == before


def test_options_belong_to_their_benchmark(ytvos, tmp_path):
    data, run_dir = ytvos
    res = invoke("eval", "--gt", data / "valid_gt" / "Annotations", "--pred", run_dir / "predictions",
                 "--meta", data / "valid" / "meta.json", code=2)
    assert "--meta applies to --benchmark ytvos" in res.output
    res = invoke("eval", "--benchmark", "ytvos", "--gt", data / "valid_gt" / "Annotations",
                 "--pred", run_dir / "predictions", code=2)
    assert "needs --meta" in res.output


# -- JHMDB ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jhmdb(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "jhmdb"
    runs = tmp_path_factory.mktemp("runs")
    invoke("data", "synth", "jhmdb", "--out", data, "--videos", "2", "--frames", "5")
    invoke("run", "--model", "lab", "--dataset", "synthetic-jhmdb", "--data-root", data, "--out", runs)
    (run_dir,) = list((runs / "synthetic-jhmdb" / "lab").iterdir())
    return data, run_dir


def _independent_pck(data, kdir, alpha) -> float:
    """Mean over joints of per-joint PCK, from the .mat files and the CSVs, frame 0 left out."""
    hits, n = np.zeros(15), np.zeros(15)
    for mat in sorted(data.glob("joint_positions/*/*/joint_positions.mat")):
        pos = scipy.io.loadmat(str(mat))["pos_img"] - 1.0  # [2, 15, T]
        rows = list(csv.DictReader((kdir / f"{mat.parent.name}.csv").open()))
        pred = {(r["frame"], int(r["joint"])): (float(r["x"]), float(r["y"])) for r in rows}
        n_frames = len({r["frame"] for r in rows})
        for t in range(1, n_frames):
            xs, ys = pos[0, :, t], pos[1, :, t]
            thr = alpha * 0.6 * math.hypot(xs.max() - xs.min(), ys.max() - ys.min())
            for j in range(15):
                n[j] += 1
                hits[j] += math.dist(pred[(f"{t + 1:05d}", j)], (xs[j], ys[j])) <= thr * (1 + 1e-9)
    return float(np.mean(hits / n))


def test_jhmdb_equals_the_run_and_independent_pck(jhmdb, tmp_path):
    data, run_dir = jhmdb
    out = tmp_path / "pck.csv"
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", run_dir, "--out", out)
    assert "PCK curve" in res.output and "right_ankle" in res.output
    assert out.read_text() == (run_dir / "per_video_pck.csv").read_text()
    assert (tmp_path / "pck.per_joint.csv").read_text() == (run_dir / "per_joint_pck.csv").read_text()
    mine = json.loads((tmp_path / "pck.summary.json").read_text())
    run = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert {k: mine[k] for k in run} == run and mine["benchmark"] == "jhmdb"
    for alpha in (0.1, 0.2):
        assert mine[f"PCK@{alpha}"] == pytest.approx(_independent_pck(data, run_dir / "keypoints", alpha), abs=1e-12)
    # the keypoints folder itself works too
    invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", run_dir / "keypoints", "--split", "1")


def test_jhmdb_bad_keypoint_files(jhmdb, tmp_path):
    data, run_dir = jhmdb
    kdir = tmp_path / "kp"
    shutil.copytree(run_dir / "keypoints", kdir)
    victim = sorted(kdir.glob("*.csv"))[0]
    lines = victim.read_text().splitlines()
    victim.write_text("\n".join(lines[:-1]) + "\n")  # last frame loses its last joint
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", kdir, code=2)
    assert str(victim) in res.output and "no row for joint(s) 14" in res.output
    victim.write_text("\n".join(lines + ["99999,0,1.0,2.0"]) + "\n")
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", kdir, code=2)
    assert str(victim) in res.output and "'99999' is not an annotated frame" in res.output
    frame, joint = lines[5].split(",")[:2]  # a (frame, joint) given twice: the last row used to win silently
    victim.write_text("\n".join(lines + [f"{frame},{joint},1.0,2.0"]) + "\n")
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", kdir, code=2)
    _one_line_error(res, victim, f"line {len(lines) + 1}", f"frame '{frame}', joint {joint}")
    victim.unlink()
    res = invoke("eval", "--benchmark", "jhmdb", "--gt", data, "--pred", kdir, code=2)
    assert str(victim) in res.output and "no keypoints for video" in res.output


# -- the Python API ------------------------------------------------------------------------------


def test_api_evaluates_every_benchmark_like_the_command(ytvos, jhmdb, tmp_path):
    data, run_dir = ytvos
    yt = vosbench.evaluate(data / "valid_gt" / "Annotations", run_dir / "submission.zip", benchmark="ytvos",
                           meta=data / "valid" / "meta.json", workers=1)
    run = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert {k: yt.metrics[k] for k in run} == run and yt.benchmark == "ytvos"
    rows = list(csv.DictReader((run_dir / "per_object.csv").open()))
    assert yt.per_object["J_mean"].tolist() == pytest.approx([float(r["J_mean"]) for r in rows], nan_ok=True)
    assert set(yt.per_object["group"]) <= {"seen", "unseen"} and yt.per_object["category"].notna().all()
    assert yt.per_frame["frame"].map(type).eq(str).all()
    jdata, jrun = jhmdb
    jh = vosbench.evaluate(jdata, jrun, benchmark="jhmdb", split=1)
    jrec = json.loads((jrun / "summary.json").read_text())["metrics"]
    assert {k: jh.metrics[k] for k in jrec} == jrec and jh.facts["split"] == 1
    assert "video" in jh.per_sequence.columns
    assert {"joint", "PCK@0.1"} <= set(jh.per_object.columns)
    assert {"video", "frame", "joint", "x", "y"} <= set(jh.per_frame.columns) and jh.per_frame["frame"].iloc[0] == "00001"
    with pytest.raises(ConfigError, match=r"meta= applies to benchmark ytvos, not davis"):
        vosbench.evaluate(data / "valid_gt" / "Annotations", run_dir / "predictions", meta=data / "valid" / "meta.json")
    with pytest.raises(ConfigError, match=r"benchmark ytvos needs meta="):
        vosbench.evaluate(data / "valid_gt" / "Annotations", run_dir / "predictions", benchmark="ytvos")
    with pytest.raises(ConfigError, match=r"benchmark 'kitti' unknown"):
        vosbench.evaluate(data, run_dir, benchmark="kitti")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) splitt"):
        vosbench.evaluate(jdata, jrun, benchmark="jhmdb", splitt=1)
