"""`vosbench report`: overlay videos, plots and an offline report.html, on a tiny DAVIS-2017-layout
dataset and run folders written here (no `vosbench run` needed)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vosbench.cli.main import cli
from vosbench.core.labels import PALETTE, write_label_png
from vosbench.results.report import draw_skeleton, overlay_masks
from tests.support.browser import chromium_or_skip

W, H = 64, 48
SEQS = {"alpha": 6, "beta": 5}


def _gt(seq: str, t: int) -> np.ndarray:
    ids = np.zeros((H, W), np.uint8)
    ids[10:26, 8 + 2 * t : 24 + 2 * t] = 1
    if seq == "alpha":
        ids[30:44, 40 - t : 52 - t] = 2
    return ids


@pytest.fixture()
def davis17(tmp_path) -> Path:
    root = tmp_path / "DAVIS"
    rng = np.random.default_rng(0)
    for seq, n in SEQS.items():
        for t in range(n):
            img = (rng.random((H, W, 3)) * 80 + 60).astype(np.uint8)
            p = root / "JPEGImages" / "480p" / seq / f"{t:05d}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(p, quality=95)
            write_label_png(root / "Annotations" / "480p" / seq / f"{t:05d}.png", _gt(seq, t))
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(SEQS) + "\n")
    return root


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def make_run(runs: Path, model: str, run_id: str, data_root: Path, quality: float) -> Path:
    d = runs / "davis17-val" / model / run_id
    d.mkdir(parents=True)
    objects, frames = [], []
    for seq, n in SEQS.items():
        ids = [1, 2] if seq == "alpha" else [1]
        for t in range(n):
            pred = np.roll(_gt(seq, t), 1 if quality > 0.5 else 4, axis=1)
            write_label_png(d / "predictions" / seq / f"{t:05d}.png", pred)
        for o in ids:
            js = [max(0.0, quality - 0.05 * t) for t in range(1, n - 1)]
            objects.append([seq, o, sum(js) / len(js), 1.0, 0.1, quality, 1.0, 0.1])
            frames += [[seq, o, f"{t:05d}", j, j] for t, j in zip(range(1, n - 1), js)]
    _write_csv(d / "per_object.csv", ["sequence", "object", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"], objects)
    _write_csv(d / "per_frame.csv", ["sequence", "object", "frame", "J", "F"], frames)
    jm = sum(o[2] for o in objects) / len(objects)
    fm = sum(o[5] for o in objects) / len(objects)
    summary = {
        "schema_version": 1, "run_id": run_id, "created": "2026-11-25T18:45:00+00:00", "status": "complete",
        "task": "vos",
        "model": {"name": model, "checkpoint": None, "checkpoint_sha256": None, "options": {}, "source": "built-in"},
        "dataset": {"name": "davis17-val", "root": str(data_root), "task": "vos", "sequences": list(SEQS)},
        "protocol": {"name": "crw", "version": 1, "topk": 10, "radius": 12.0},
        "metrics": {"JF_mean": (jm + fm) / 2, "J_mean": jm, "F_mean": fm},
        "environment": {}, "timings": {"frames_per_s": 12.5},
    }
    (d / "summary.json").write_text(json.dumps(summary))
    return d


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.imgs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v is not None:
                self.urls.append(v)
                if tag == "img":
                    self.imgs.append(v)


def assert_offline_and_complete(html_path: Path) -> Links:
    text = html_path.read_text()
    assert "http://" not in text and "https://" not in text
    parser = Links()
    parser.feed(text)
    from urllib.parse import unquote

    for url in parser.urls:
        assert not url.startswith(("/", "//", "file:", "data:")), url
        target = (html_path.parent / unquote(url)).resolve()
        assert target.is_file(), f"broken link {url}"
    for url in parser.imgs:
        with Image.open(html_path.parent / unquote(url)) as im:
            im.load()  # decodes: not a broken image
            assert im.width > 32 and im.height > 32
    return parser


def test_report_with_comparison(tmp_path, davis17):
    runs = tmp_path / "runs"
    a = make_run(runs, "lab", "20261125-184500-aaaaaa", davis17, 0.8)
    b = make_run(runs, "identity", "20261125-184600-bbbbbb", davis17, 0.4)
    res = CliRunner().invoke(cli, ["report", str(a), "--compare", str(b), "--video", "gif"])
    assert res.exit_code == 0, res.output
    out = a / "report"
    html_path = out / "report.html"
    links = assert_offline_and_complete(html_path)
    names = {Path(u).name for u in links.urls}
    assert {"jf_per_sequence.png", "j_curve_alpha.png", "j_curve_beta.png", "video_alpha.gif", "video_beta.gif"} <= names
    for seq, n in SEQS.items():
        with Image.open(out / f"video_{seq}.gif") as gif:
            assert gif.n_frames == n and gif.size == (W, H)
    text = html_path.read_text()
    assert "identity" in text and "lab" in text and "crw v1" in text
    # the bar chart holds both runs' bars: its legend needs two colours of the run palette
    bars = np.asarray(Image.open(out / "jf_per_sequence.png").convert("RGB")).reshape(-1, 3)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):
        assert (np.abs(bars.astype(int) - colour).sum(axis=1) < 10).sum() > 200


def test_report_out_dir_subset_and_no_video(tmp_path, davis17):
    a = make_run(tmp_path / "runs", "lab", "20261125-184500-aaaaaa", davis17, 0.8)
    out = tmp_path / "elsewhere"
    res = CliRunner().invoke(cli, ["report", str(a), "--out", str(out), "--sequences", "beta", "--video", "none"])
    assert res.exit_code == 0, res.output
    assert_offline_and_complete(out / "report.html")
    assert not list(out.glob("video_*")) and (out / "j_curve_beta.png").is_file()
    assert not (out / "j_curve_alpha.png").exists() and not (a / "report").exists()


def test_report_without_frames_still_writes_plots_and_says_why(tmp_path, davis17):
    a = make_run(tmp_path / "runs", "lab", "20261125-184500-aaaaaa", tmp_path / "moved", 0.8)
    res = CliRunner().invoke(cli, ["report", str(a), "--max-frames", "3"])
    assert res.exit_code == 0, res.output
    assert "frames not available" in res.output and "--data-root" in res.output
    assert_offline_and_complete(a / "report" / "report.html")
    assert not list((a / "report").glob("video_*"))
    res = CliRunner().invoke(cli, ["report", str(a), "--max-frames", "3", "--data-root", str(davis17), "--video", "gif"])
    assert res.exit_code == 0, res.output
    with Image.open(a / "report" / "video_alpha.gif") as gif:
        assert gif.n_frames == 3


def test_overlay_colours_outline_and_gt_contour():
    rgb = np.full((20, 30, 3), 100, np.uint8)
    pred = np.zeros((20, 30), np.uint8)
    pred[5:15, 5:15] = 1
    gt = np.zeros((20, 30), np.uint8)
    gt[5:15, 18:28] = 2
    out = overlay_masks(rgb, pred, gt, alpha=0.5)
    red = np.frombuffer(PALETTE, np.uint8).reshape(256, 3)[1]  # id 1 = (128, 0, 0)
    assert tuple(out[10, 10]) == tuple(int((100 + c) / 2 + 0.5) for c in red)  # blended interior
    assert tuple(out[5, 10]) == tuple(red)  # the mask's own rim, full colour
    assert tuple(out[4, 10]) == (100, 100, 100)  # background untouched
    assert tuple(out[5, 20]) == (255, 255, 255) and tuple(out[10, 22]) == (100, 100, 100)  # GT outline only
    small = overlay_masks(rgb, pred, None, width=15)
    assert small.shape == (10, 15, 3)


def test_skeleton_draws_joints_and_bones():
    rgb = np.zeros((60, 80, 3), np.uint8)
    joints = {0: (40.0, 10.0), 2: (40.0, 3.0), 1: (40.0, 30.0), 5: (-1.0, -1.0)}
    out = draw_skeleton(rgb, joints)
    assert out[10, 40].any() and out[30, 40].any()  # joints
    assert tuple(out[20, 40]) == (255, 255, 0)  # the neck-belly bone
    assert not out[55, 5].any()  # invisible joint 5 drew nothing


def test_pose_report_has_pck_curve(tmp_path):
    d = tmp_path / "runs" / "jhmdb-split1" / "lab" / "r1"
    (d / "keypoints").mkdir(parents=True)
    _write_csv(d / "keypoints" / "v1.csv", ["frame", "joint", "x", "y"], [[0, j, 10 + j, 20] for j in range(15)])
    _write_csv(d / "per_joint_pck.csv", ["joint", "PCK@0.1", "PCK@0.2"], [["neck", 0.5, 0.8], ["belly", 0.4, 0.7]])
    summary = {
        "schema_version": 1, "run_id": "r1", "created": "2026-11-25T18:45:00+00:00", "task": "pose",
        "model": {"name": "lab"}, "dataset": {"name": "jhmdb-split1", "root": str(tmp_path / "nowhere"), "sequences": ["v1"]},
        "protocol": {"name": "crw-jhmdb", "version": 1},
        "metrics": {"PCK@0.1": 0.45, "PCK@0.2": 0.75, "pck_curve": {"0.05": 0.2, "0.1": 0.45, "0.2": 0.75, "0.5": 0.95}},
    }
    (d / "summary.json").write_text(json.dumps(summary))
    res = CliRunner().invoke(cli, ["report", str(d)])
    assert res.exit_code == 0, res.output
    links = assert_offline_and_complete(d / "report" / "report.html")
    assert {"pck_curve.png", "pck_per_joint.png"} <= {Path(u).name for u in links.urls}
    assert "45.0" in (d / "report" / "report.html").read_text()


def test_missing_matplotlib_is_a_clear_error(tmp_path, davis17, monkeypatch):
    a = make_run(tmp_path / "runs", "lab", "20261125-184500-aaaaaa", davis17, 0.8)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    res = CliRunner().invoke(cli, ["report", str(a)])
    assert res.exit_code == 2
    assert "needs matplotlib" in res.output and "pip install 'vosbench[report]'" in res.output


def test_mp4_without_encoder_is_a_clear_error(tmp_path, davis17, monkeypatch):
    a = make_run(tmp_path / "runs", "lab", "20261125-184500-aaaaaa", davis17, 0.8)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    monkeypatch.setitem(sys.modules, "av", None)
    res = CliRunner().invoke(cli, ["report", str(a), "--video", "mp4"])
    assert res.exit_code == 2 and "imageio-ffmpeg" in res.output and "--video gif" in res.output


def test_mp4_videos_play_back_with_every_frame(tmp_path, davis17):
    """auto picks MP4 where imageio-ffmpeg is installed (the test extra installs it); the videos
    decode back to every frame at the frame size (H.264 needs even sides: 64x48 is kept)."""
    import imageio.v3 as iio

    from vosbench.results.report_size import mp4_available

    assert mp4_available(), "the test extra installs imageio-ffmpeg"
    a = make_run(tmp_path / "runs", "lab", "20261125-184500-aaaaaa", davis17, 0.8)
    res = CliRunner().invoke(cli, ["report", str(a)])
    assert res.exit_code == 0, res.output
    links = assert_offline_and_complete(a / "report" / "report.html")
    assert {"video_alpha.mp4", "video_beta.mp4"} <= {Path(u).name for u in links.urls}
    for seq, n in SEQS.items():
        frames = iio.imread(a / "report" / f"video_{seq}.mp4", )
        assert frames.shape[0] == n and frames.shape[1:3] == (H, W)


def test_not_a_run_folder(tmp_path):
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "not a run folder" in res.output


def test_help_ends_with_examples():
    res = CliRunner().invoke(cli, ["report", "--help"])
    assert res.exit_code == 0 and "Examples:" in res.output
    assert res.output.rstrip().splitlines()[-1].strip().startswith("vosbench report")


def test_report_renders_in_headless_chromium(tmp_path, davis17):
    """scripts/check_report.py: every image and video decodes in the browser, and a screenshot shows
    the plots (skipped without Chromium, except under CI, where .ci/run installs it)."""
    browser = chromium_or_skip()
    a = make_run(tmp_path / "runs", "lab", "20261125-184500-aaaaaa", davis17, 0.8)
    b = make_run(tmp_path / "runs", "identity", "20261125-184600-bbbbbb", davis17, 0.4)
    assert CliRunner().invoke(cli, ["report", str(a), "--compare", str(b)]).exit_code == 0
    script = Path(__file__).resolve().parents[1] / "scripts" / "check_report.py"
    shot = tmp_path / "shot.png"
    res = subprocess.run([sys.executable, str(script), str(a / "report" / "report.html"), "--screenshot", str(shot),
                          "--chromium", browser], capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    # 4 plots, and the 2 overlay videos as MP4 (imageio-ffmpeg, the test extra) or GIF images
    m = re.search(r"ok +(\d+)/(\d+) images and (\d+)/(\d+) videos loaded", res.stdout)
    assert m and m.group(1) == m.group(2) and m.group(3) == m.group(4), res.stdout
    assert int(m.group(1)) + int(m.group(3)) == 6 and shot.is_file(), res.stdout
