"""TAP-Vid-Kinetics from the official CSV and MP4 clips (PyAV, ``vosbench[video]``): frames, points
and occlusion equal a step-by-step restatement of tapnet's ``generate_tapvid.py``; a run, data
check, missing clips and hostile rows."""

from __future__ import annotations

import csv
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import invoke
from vosbench.datasets.factory import load_dataset
from vosbench.datasets.video_decode import fps_repeats

try:
    import av
except ImportError:  # the tests of CSV rows and of the missing extra run without it
    av = None
needs_av = pytest.mark.skipif(av is None, reason="PyAV (vosbench[video]) is not installed")

RATE, N_IN, W, H = 30, 12, 64, 48
CLIP = "abcdefghijk_000010_000020"


def _frame(i: int) -> np.ndarray:
    """Frame i: uniform grey 20 * i with a white bar moving 4 px per frame."""
    img = np.full((H, W, 3), 20 * i, np.uint8)
    img[:, 4 * i: 4 * i + 6] = 255
    return img


def write_clip(path: Path, frames: int = N_IN, rate: int = RATE) -> None:
    """An MPEG-4 clip written with PyAV (near-lossless), ``frames`` frames at ``rate`` fps."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=rate)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"qscale": "1"}
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(_frame(i % 12), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def tracks_rows(youtube_id: str, start: str, end: str, n: int, seed: int) -> list[list[str]]:
    """``n`` official rows: id, start, end, then 250 (x, y, occluded) triples."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        xy = rng.uniform(0, 1, (250, 2))
        occ = rng.uniform(size=250) < 0.3
        row = [youtube_id, start, end]
        for t in range(250):
            row += [repr(float(xy[t, 0])), repr(float(xy[t, 1])), "1" if occ[t] else "0"]
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture(scope="module")
def kin(tmp_path_factory) -> Path:
    """<root>/tapvid_kinetics.csv with 2 videos (rows interleaved), one clip in a label folder and
    one clip missing."""
    root = tmp_path_factory.mktemp("kinetics")
    (root / "videos" / "juggling").mkdir(parents=True)
    write_clip(root / "videos" / "juggling" / f"{CLIP}.mp4")
    a, b = tracks_rows("abcdefghijk", "10", "20", 3, 0), tracks_rows("missing_clip", "000000", "10", 2, 1)
    write_csv(root / "tapvid_kinetics.csv", [a[0], b[0], a[1], a[2], b[1]])
    return root


def naive_generate_tapvid(root: Path) -> dict[str, np.ndarray]:
    """generate_tapvid.py's steps, restated naively: every frame decoded, ffmpeg's fps=25 frame
    choice (output tick n shows the last frame whose rounded tick is <= n, ticks counted from the
    first frame's, up to the end of the last frame), 250 frames at most, tracks cut to them,
    points (x * W - 0.5) / W."""
    with av.open(str(next(root.rglob("*.mp4")))) as c:
        st = c.streams.video[0]
        decoded = [(f.pts, f.duration, f.to_ndarray(format="rgb24")) for f in c.decode(st)]
        tb = Fraction(st.time_base)

    def tick(x: Fraction) -> int:
        return int(np.floor(x + Fraction(1, 2)))  # positive here: halves go up

    ticks = [tick(p * tb * 25) for p, _, _ in decoded]
    end = tick((decoded[-1][0] + decoded[-1][1]) * tb * 25)
    frames = [decoded[max(i for i in range(len(ticks)) if ticks[i] <= n)][2] for n in range(ticks[0], end)][:250]
    with open(root / "tapvid_kinetics.csv") as f:
        rows = [r for r in csv.reader(f) if r[0] == "abcdefghijk"]
    pts = np.array([[[float(r[3 + 3 * t]), float(r[4 + 3 * t])] for t in range(250)] for r in rows])
    occ = np.array([[r[5 + 3 * t] == "1" for t in range(250)] for r in rows])
    t_n = len(frames)
    pts = pts[:, :t_n]
    norm = np.stack([(pts[..., 0] * W - 0.5) / W, (pts[..., 1] * H - 0.5) / H], axis=-1)
    return {"video": np.stack(frames), "points": norm, "occluded": occ[:, :t_n]}


@needs_av
def test_frames_points_and_occlusion_equal_generate_tapvid(kin, caplog):
    ds = load_dataset("tapvid-kinetics", kin)
    assert "1 of 2 clips" in caplog.text and "missing_clip_000000_000010.mp4" in caplog.text
    assert ds.sequence_names() == ["video_0000"]
    seq = ds.sequence("video_0000")
    ref = naive_generate_tapvid(kin)
    assert len(seq) == 10 == len(ref["video"])  # 12 frames at 30 fps -> 10 at 25 fps (frames 3 and 9 dropped)
    np.testing.assert_array_equal(np.stack([seq.read_image(i) for i in range(len(seq))]), ref["video"])
    pts, occ = seq.gt_tracks()
    np.testing.assert_array_equal(pts, ref["points"] * np.array([W, H]))
    np.testing.assert_array_equal(occ, ref["occluded"])
    # the source frames: grey levels 20 * i (within the codec's and YUV's few levels) of frames 0, 1,
    # 2, 4, 5, 6, 7, 8, 10, 11
    grey = [float(np.median(seq.read_image(i)[:, 50:])) for i in range(len(seq))]
    np.testing.assert_allclose(grey, [20 * i for i in (0, 1, 2, 4, 5, 6, 7, 8, 10, 11)], atol=6)


@needs_av
def test_frames_equal_libavfilter_fps(kin):
    """The frame choice equals libavfilter's own fps filter (run through PyAV) on the same clip."""
    clip = next(kin.rglob("*.mp4"))
    with av.open(str(clip)) as c:
        st = c.streams.video[0]
        graph = av.filter.Graph()
        src, fps, sink = graph.add_buffer(template=st), graph.add("fps", "25"), graph.add("buffersink")
        src.link_to(fps)
        fps.link_to(sink)
        graph.configure()
        out = []
        for frame in [*c.decode(st), None]:
            graph.push(frame)
            while True:
                try:
                    out.append(graph.pull().to_ndarray(format="rgb24"))
                except (av.BlockingIOError, av.EOFError):
                    break
    seq = load_dataset("tapvid-kinetics", kin).sequence("video_0000")
    np.testing.assert_array_equal(np.stack([seq.read_image(i) for i in range(len(seq))]), np.stack(out))


def test_fps_repeats_hand_made():
    # ticks 0, 1, 1, 3 and end 5: frame 1 overtaken by frame 2 at tick 1, frame 2 repeated at tick 2
    assert fps_repeats([0, 1, 1, 3], 5) == [1, 0, 2, 2]
    assert fps_repeats([], 3) == []


@needs_av
def test_250_frames_kept(tmp_path):
    write_clip(tmp_path / f"{CLIP}.mp4", frames=330)  # 11 s at 30 fps -> 275 frames at 25 fps
    write_csv(tmp_path / "tapvid_kinetics.csv", tracks_rows("abcdefghijk", "10", "20", 1, 2))
    seq = load_dataset("tapvid-kinetics", tmp_path).sequence("video_0000")
    assert len(seq) == 250 and seq.gt_tracks()[0].shape == (1, 250, 2)


@needs_av
def test_run_nn_end_to_end_and_data_check(kin, tmp_path):
    invoke("run", "--model", "lab", "--dataset", "tapvid-kinetics", "--data-root", kin, "--protocol", "nn",
           "--out", tmp_path, "--device", "cpu", code=0, catch_exceptions=False)
    (run_dir,) = (tmp_path / "tapvid-kinetics" / "lab").iterdir()
    with np.load(run_dir / "tracks" / "video_0000.npz") as z:
        assert z["tracks"].shape[1:] == (10, 2)
    assert (run_dir / "per_video_tapvid.csv").is_file()
    scores = tmp_path / "scores.csv"
    invoke("eval", "--benchmark", "tapvid", "--gt", kin, "--pred", run_dir, "--out", scores, code=0)
    assert scores.read_text() == (run_dir / "per_video_tapvid.csv").read_text()
    res = invoke("data", "check", "tapvid-kinetics", "--data-root", kin, code=0)
    assert "OK (1 sequences, 10 frames, 3 annotation files checked)" in res.output
    assert "1 of 2 clips" in res.output


@pytest.mark.parametrize("field, value, message", [
    (0, "../../etc", "cannot name a clip"),
    (0, "a/b", "cannot name a clip"),
    (1, "1e3", "start time is '1e3', not a whole number"),
    (2, "-20", "end time is '-20', not a whole number"),
    (3, "abc", "x of frame 0 is 'abc', not a finite number"),
    (7, "nan", "y of frame 1 is 'nan', not a finite number"),
    (8, "2", "occluded flag of frame 1 is '2'; expected 0 or 1"),
    (None, "", "fields; expected 753"),
])
def test_hostile_rows_give_one_line_errors(tmp_path, field, value, message):
    row = tracks_rows("abcdefghijk", "10", "20", 1, 3)[0]
    if field is None:
        row = row[:-1]
    else:
        row[field] = value
    write_csv(tmp_path / "tapvid_kinetics.csv", [row])
    for cmd in (("data", "check", "tapvid-kinetics"), ("run", "--model", "lab", "--dataset", "tapvid-kinetics")):
        res = invoke(*cmd, "--data-root", tmp_path, "--out", tmp_path / "out", code=2) if cmd[0] == "run" else \
            invoke(*cmd, "--data-root", tmp_path, code=2)
        assert message in res.output and "line 1" in res.output and "Traceback" not in res.output


def test_missing_pyav_names_the_extra(tmp_path, monkeypatch):
    write_csv(tmp_path / "tapvid_kinetics.csv", tracks_rows("abcdefghijk", "10", "20", 1, 4))
    (tmp_path / f"{CLIP}.mp4").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError
    res = invoke("data", "check", "tapvid-kinetics", "--data-root", tmp_path, code=2)
    assert "pip install 'vosbench[video]'" in res.output and "Traceback" not in res.output


def test_a_folder_without_csv_or_pickles_is_refused(tmp_path):
    res = invoke("data", "check", "tapvid-kinetics", "--data-root", tmp_path, code=2)
    assert "neither tapvid_kinetics.csv" in res.output
