"""Time the VIP scorer against ATEN's evaluate/test_parsing.py restated naively, on the same files.

    python benchmarks/vip_scorer.py [--videos 4] [--frames 3] [--size 480x270]

Writes a VIP-layout ground truth and greyscale predictions (one video's predictions at half size,
so the ANTIALIAS resize is exercised) into a temporary folder, then scores them three ways with
ATEN's rules (``--scorer aten``):

* vosbench (``vosbench.evaluate.vip.evaluate_vip``: PIL read, one table lookup + ``bincount``);
* ATEN's ``compute_hist`` as the tests restate it, step by step (a loop over pixels; the reference
  the scorer is checked against, ``tests/support/vip.py``);
* ATEN's ``compute_hist`` as written (``np.array(..., int32)``, boolean mask, ``bincount``), for scale.

Prints the times and the ratios (target: at least 5x faster than the naive restatement) and
asserts that the three confusion matrices are identical.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def write_set(root: Path, videos: int, frames: int, size: tuple[int, int]) -> tuple[Path, Path]:
    """GT part maps and predictions (the GT with shifted parts and noise; video 0 at half size)."""
    rng = np.random.default_rng(0)
    w, h = size
    gt_dir, pred_dir = root / "Category_ids", root / "pred"
    for v in range(videos):
        for f in range(frames):
            gt = np.zeros((h, w), np.uint8)
            for _ in range(12):
                x, y = rng.integers(0, w - w // 6), rng.integers(0, h - h // 4)
                # classes up to 15: LANCZOS overshoots an edge by a few ids, and past class 19 ATEN's script fails
                gt[y : y + h // 4, x : x + w // 6] = rng.integers(1, 16)
            gt[: h // 50] = 255  # ignored pixels
            pred = np.roll(gt, (3, -4), axis=(0, 1))
            pred[pred == 255] = 0
            noise = rng.random(gt.shape) < 0.02
            pred[noise] = rng.integers(0, 20, size=int(noise.sum()))
            name = f"{25 * f:012d}.png"
            for folder, ids in ((gt_dir, gt), (pred_dir, pred)):
                (folder / f"videos{v + 1}").mkdir(parents=True, exist_ok=True)
                im = Image.fromarray(ids)
                if folder is pred_dir and v == 0:
                    im = im.resize((w // 2, h // 2), Image.Resampling.NEAREST)
                im.save(folder / f"videos{v + 1}" / name)
    return gt_dir, pred_dir


def aten_as_written(pairs: list[tuple[Path, Path]], n: int = 20) -> np.ndarray:
    """ATEN's compute_hist with its own fast_hist (int32 arrays, boolean mask, bincount)."""
    from tests.support.vip import aten_read

    hist = np.zeros((n, n))
    for img_path, label_path in pairs:
        label_array, image_array = aten_read(img_path, label_path)
        k = (label_array >= 0) & (label_array < n)
        hist += np.bincount(n * label_array[k].astype(int) + image_array[k], minlength=n**2).reshape(n, n)
    return hist


def best_of(repeats: int, fn, *args):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--size", default="480x270", help="WIDTHxHEIGHT of the ground truth [480x270]")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for the fast scorers [3]")
    args = parser.parse_args()
    w, h = (int(x) for x in args.size.lower().split("x"))

    sys.path.insert(0, str(REPO))
    from tests.support.vip import aten_script, init_path

    from vosbench.evaluate.vip import evaluate_vip

    with tempfile.TemporaryDirectory() as tmp:
        gt_dir, pred_dir = write_set(Path(tmp), args.videos, args.frames, (w, h))
        pairs = init_path(pred_dir, gt_dir)
        t_ours, ev = best_of(args.repeats, evaluate_vip, gt_dir, pred_dir, "aten")
        ours = sum(ev.hists.values())
        t_written, written = best_of(args.repeats, aten_as_written, pairs)
        t_naive, naive = best_of(1, aten_script, pairs)
    pixels = len(pairs) * w * h
    print(f"{len(pairs)} frames of {w}x{h} ({pixels / 1e6:.1f} M pixels), one video predicted at half size")
    print(f"  vosbench scorer (aten)           {1000 * t_ours:9.1f} ms")
    print(f"  ATEN's script as written         {1000 * t_written:9.1f} ms   ({t_written / t_ours:.1f}x the scorer's time)")
    print(f"  ATEN's script restated naively   {1000 * t_naive:9.1f} ms   ({t_naive / t_ours:.0f}x; target >= 5x)")
    assert np.array_equal(ours, naive) and np.array_equal(ours, written), "confusion matrices differ"
    print("confusion matrices: identical (all three)")


if __name__ == "__main__":
    main()
