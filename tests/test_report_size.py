"""Report size: auto format, --scale, --max-frames default for GIF, and the stated total size."""

from __future__ import annotations

import re

from click.testing import CliRunner
from PIL import Image

from tests.test_report import H, W, davis17, make_run  # noqa: F401  (davis17 is a fixture)
from vosbench.cli.main import cli
from vosbench.results import report_size


def test_states_its_size_and_scale_shrinks_videos(tmp_path, davis17, monkeypatch):  # noqa: F811
    monkeypatch.setattr(report_size, "mp4_available", lambda: False)  # auto -> gif
    a = make_run(tmp_path / "runs", "lab", "20261125-184500-aaaaaa", davis17, 0.8)
    res = CliRunner().invoke(cli, ["report", str(a), "--scale", "0.5"], terminal_width=1000)
    assert res.exit_code == 0, res.output
    out = a / "report"
    files = [p for p in out.iterdir() if p.suffix in (".gif", ".png", ".html")]
    total = sum(p.stat().st_size for p in files)
    m = re.search(r"gif video\(s\); ([0-9.]+) (kB|MB) in all", res.output)
    assert m, res.output
    stated = float(m.group(1)) * (1e3 if m.group(2) == "kB" else 1e6)
    assert abs(stated - total) <= 0.05 * 10 ** (3 if m.group(2) == "kB" else 6) + 1
    media = total - (out / "report.html").stat().st_size
    assert "Report size: " in (out / "report.html").read_text()
    with Image.open(next(out.glob("video_*.gif"))) as gif:
        assert gif.size == (round(W * 0.5), round(H * 0.5))
    assert media > 0


def test_auto_picks_mp4_only_with_an_encoder(monkeypatch):
    monkeypatch.setattr(report_size, "mp4_available", lambda: True)
    assert report_size.resolve_video_format("auto") == "mp4"
    monkeypatch.setattr(report_size, "mp4_available", lambda: False)
    assert report_size.resolve_video_format("auto") == "gif"
    assert report_size.resolve_video_format("none") == "none"
    assert report_size.human_size(1_234_567) == "1.2 MB"
