"""Open a vosbench report.html in headless Chromium and check that it really renders.

Usage::

    python scripts/check_report.py RUN_DIR [--compare RUN_DIR ...] [--screenshot shot.png]
    python scripts/check_report.py path/to/report.html

With a run folder, the report is first written with ``vosbench report`` into a temporary folder.
Then, offline (Chromium gets no network):

1. a copy of the page with a small script appended is loaded with ``--dump-dom``; the script
   counts the images and videos that loaded (``naturalWidth > 0`` / ``readyState``) and those that
   did not, so a broken link or an undecodable file fails the check;
2. a full-page screenshot of the report itself is taken and must contain the plots: a few
   hundred pixels of matplotlib's first line/bar colour (#1f77b4).

Exit 0 when both hold, 1 otherwise, 2 when Chromium is missing (``apt-get install chromium``).
tests/test_report.py runs it on a small report (CI installs Chromium, see .ci/run) and also checks
the links statically.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """
<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const vids = [...document.querySelectorAll("video")];
  const okImg = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const okVid = vids.filter(v => v.readyState > 0 && v.videoWidth > 0).length;
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"))
    .concat(vids.filter(v => !(v.readyState > 0 && v.videoWidth > 0)).map(v => v.getAttribute("src")));
  const pre = document.createElement("pre");
  pre.id = "vosbench-probe";
  pre.textContent = `PROBE images=${imgs.length} loaded=${okImg} videos=${vids.length} loaded_videos=${okVid} broken=${JSON.stringify(bad)}`;
  document.body.appendChild(pre);
});
</script>
"""


def find_chromium(explicit: str | None) -> str:
    for name in [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome", "chrome"]:
        path = shutil.which(name) if name else None
        if path:
            return path
    print("Chromium not found: install it (apt-get install chromium) or pass --chromium PATH", file=sys.stderr)
    sys.exit(2)


def chromium(browser: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--allow-file-access-from-files",
            "--proxy-server=127.0.0.1:9", "--virtual-time-budget=15000"]  # no network at all
    return subprocess.run([*base, *args], capture_output=True, text=True, timeout=timeout)


def probe(browser: str, html: Path) -> tuple[bool, str]:
    probe_page = html.with_name(".probe_report.html")
    text = html.read_text(encoding="utf-8")
    probe_page.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    try:
        res = chromium(browser, "--dump-dom", probe_page.resolve().as_uri())
    finally:
        probe_page.unlink(missing_ok=True)
    m = re.search(r"PROBE images=(\d+) loaded=(\d+) videos=(\d+) loaded_videos=(\d+) broken=(\[.*?\])", res.stdout)
    if not m:
        return False, f"probe did not run (chromium exit {res.returncode}): {res.stderr[-500:]}"
    n_img, ok_img, n_vid, ok_vid = (int(m.group(i)) for i in range(1, 5))
    ok = n_img > 0 and ok_img == n_img and ok_vid == n_vid
    return ok, f"{ok_img}/{n_img} images and {ok_vid}/{n_vid} videos loaded; broken: {m.group(5)}"


def screenshot(browser: str, html: Path, out: Path, width: int, height: int) -> tuple[bool, str]:
    import numpy as np
    from PIL import Image

    res = chromium(browser, f"--screenshot={out}", f"--window-size={width},{height}", html.resolve().as_uri())
    if not out.is_file():
        return False, f"no screenshot (chromium exit {res.returncode}): {res.stderr[-500:]}"
    px = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3).astype(int)
    blue = int((np.abs(px - (0x1F, 0x77, 0xB4)).sum(axis=1) < 12).sum())
    non_white = int((px.min(axis=1) < 240).sum())
    ok = blue > 300 and non_white > 0.02 * len(px)
    return ok, f"screenshot {out} ({width}x{height}): {blue} plot-blue pixels, {non_white} non-white pixels"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", type=Path, help="run folder, or an existing report.html")
    ap.add_argument("--compare", type=Path, action="append", default=[], help="run folder to compare (repeatable)")
    ap.add_argument("--screenshot", type=Path, default=None, help="where to keep the screenshot")
    ap.add_argument("--chromium", default=None, help="browser executable")
    ap.add_argument("--size", default="1280x3200", help="window size WxH for the screenshot")
    args = ap.parse_args(argv)
    browser = find_chromium(args.chromium)
    tmp = Path(tempfile.mkdtemp(prefix="vosbench-report-check-"))
    try:
        if args.target.suffix == ".html":
            html = args.target
        else:
            out = tmp / "report"
            cmd = [sys.executable, "-m", "vosbench.cli.main", "report", str(args.target), "--out", str(out)]
            for c in args.compare:
                cmd += ["--compare", str(c)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            print(res.stdout.strip(), res.stderr.strip(), sep="\n")
            if res.returncode != 0:
                return 1
            html = out / "report.html"
        ok1, msg1 = probe(browser, html)
        print(("ok   " if ok1 else "FAIL ") + msg1)
        w, h = (int(v) for v in args.size.lower().split("x"))
        shot = args.screenshot or tmp / "report.png"
        ok2, msg2 = screenshot(browser, html, shot, w, h)
        print(("ok   " if ok2 else "FAIL ") + msg2)
        return 0 if ok1 and ok2 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
