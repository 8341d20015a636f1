"""Shared fixtures. Installed third-party plugins are ignored (VOSBENCH_NO_PLUGINS) so that the
registries are deterministic; the plugin test turns them back on in a subprocess."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http import RangeServer

os.environ["VOSBENCH_NO_PLUGINS"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DAVIS16_MINI = SHARED_DATA / "davis16-val-mini"


@pytest.fixture(scope="session")
def davis16_mini() -> Path:
    """The real six-sequence DAVIS-2016 sample, read in place."""
    if not DAVIS16_MINI.is_dir():
        pytest.skip(f"real test data not found at {DAVIS16_MINI} (../shared/data beside the repo)")
    return DAVIS16_MINI


@pytest.fixture
def range_server() -> Iterator[RangeServer]:
    """A local byte-range HTTP server on 127.0.0.1 (:mod:`tests.support.http`), for the test's duration."""
    server = RangeServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own VOSBENCH_CACHE unless it sets one; nothing is written to ~/.cache."""
    if "VOSBENCH_CACHE" not in os.environ:
        monkeypatch.setenv("VOSBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "vosbench-cache"))


def write_tiny_davis17(root: Path, sequences: int = 2, frames: int = 6, size: tuple[int, int] = (64, 48)) -> Path:
    """A small DAVIS-2017-layout tree: a textured square and a disc moving over noise (deterministic)."""
    import numpy as np
    from PIL import Image

    from vosbench.core.labels import write_label_png

    w, h = size
    rng = np.random.default_rng(7)
    names = []
    for s in range(sequences):
        name = f"seq{s}"
        names.append(name)
        bg = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        tex = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        (root / "JPEGImages/480p" / name).mkdir(parents=True)
        yy, xx = np.mgrid[0:h, 0:w]
        for t in range(frames):
            img = bg.copy()
            ids = np.zeros((h, w), np.uint8)
            x0, y0 = 8 + 3 * t + s, 10 + t
            sq = (yy >= y0) & (yy < y0 + 14) & (xx >= x0) & (xx < x0 + 14)
            disc = (yy - 30) ** 2 + (xx - (45 - 2 * t)) ** 2 < 36
            img[sq] = tex[sq]
            img[disc] = 255 - tex[disc]
            ids[sq] = 1
            ids[disc] = 2
            Image.fromarray(img).save(root / "JPEGImages/480p" / name / f"{t:05d}.jpg", quality=95)
            write_label_png(root / "Annotations/480p" / name / f"{t:05d}.png", ids)
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/val.txt").write_text("\n".join(names) + "\n")
    (root / "ImageSets/2017/train.txt").write_text("")
    return root


@pytest.fixture
def tiny_davis17(tmp_path) -> Path:
    return write_tiny_davis17(tmp_path / "DAVIS")
