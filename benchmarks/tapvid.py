"""Point tracking speed and memory: vosbench's ``nn`` and ``propagate`` trackers against a naive
full cost-volume implementation, on a generated 480p video with 256 query points.

The video (854x480 by default) is a procedural texture panning and drifting, generated frame by
frame (nothing of it is stored), read through the ``nn`` / ``propagate`` presets (frames
squashed to 256x256; the ``lab`` encoder, stride 8, unless ``--model``). Each measurement runs in
its own subprocess: the peak resident memory of the tracking alone is read from ``VmHWM`` after
resetting it (``/proc/self/clear_refs``) once the model is loaded, minus the resident memory at
that moment.

The naive reference is the usual zero-shot script (e.g. gorkaydemir/fomo_point_tracking
``zero_shot.py``): all frames' features stacked, the (T, Q, h, w) cost volume of every query
against every frame computed at once, its arg-max. vosbench's ``nn`` holds one frame's
similarities for at most 256 queries at a time; ``propagate`` holds the protocol's context.

Usage:
    python benchmarks/tapvid.py [--frames 50,200] [--queries 256] [--size 854x480] [--model lab]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _status(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _measure(method: str, frames: int, queries: int, size: tuple[int, int], model_name: str) -> dict[str, float]:
    """One measurement in this process (called in a subprocess)."""
    import numpy as np
    import torch

    from vosbench.core.video import VideoSequence
    from vosbench.models.factory import create_model
    from vosbench.propagation.features import Timings, frame_features
    from vosbench.propagation.points import track_points
    from vosbench.propagation.protocol import PRESETS

    torch.set_num_threads(2)
    w, h = size
    rng = np.random.default_rng(0)
    tex = (rng.random((h // 8 + 40, w // 8 + 40, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)

    class Generated(VideoSequence):
        def read_image(self, i: int) -> np.ndarray:
            dx, dy = int(2 * i) % 200, int(i) % 100
            return np.ascontiguousarray(tex[dy : dy + h, dx : dx + w])

    seq = Generated("generated", [f"{t:05d}" for t in range(frames)], [Path(f"{t:05d}") for t in range(frames)])
    q = np.stack([np.zeros(queries), rng.uniform(0, h - 1, queries), rng.uniform(0, w - 1, queries)], axis=1)
    model = create_model(model_name)
    protocol = PRESETS["propagate" if method == "propagate" else "nn"]
    device = torch.device("cpu")
    base = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the peak of what follows
    t0 = time.perf_counter()
    if method == "naive":
        feats = torch.stack([f for _, f in frame_features(seq, model, protocol, device, Timings())])  # (T, C, h, w)
        T, C, fh, fw = feats.shape
        cells = (q[:, [2, 1]] + 0.5) * np.array([fw / w, fh / h]) - 0.5
        ix = np.clip(np.rint(cells), 0, [fw - 1, fh - 1]).astype(int)
        qf = feats[0][:, ix[:, 1], ix[:, 0]].t()  # (Q, C)
        cost = torch.einsum("qc,tchw->tqhw", qf, feats)  # the full cost volume
        best = cost.reshape(T, len(q), -1).argmax(-1)
        _ = torch.stack([best % fw, best // fw], -1).numpy()
    else:
        track_points(seq, model, protocol, device, Timings(), q, (h, w), "first")
    seconds = time.perf_counter() - t0
    return {"seconds_per_frame": seconds / frames, "peak_mb": _status("VmHWM") - base}


def _child(args: argparse.Namespace, method: str, frames: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", method, str(frames), "--queries", str(args.queries),
           "--size", args.size, "--model", args.model]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", default="50,200", help="Video lengths, comma-separated [50,200].")
    ap.add_argument("--queries", type=int, default=256, help="Query points [256].")
    ap.add_argument("--size", default="854x480", help="Frame size WxH [854x480].")
    ap.add_argument("--model", default="lab", help="Encoder [lab].")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "FRAMES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.child:
        print(json.dumps(_measure(args.child[0], int(args.child[1]), args.queries, (w, h), args.model)))
        return
    lengths = [int(v) for v in args.frames.split(",")]
    print(f"{args.model}, {w}x{h} frames squashed to 256x256, {args.queries} query points")
    print(f"{'method':<10} {'frames':>6} {'ms/frame':>9} {'peak MB':>8}")
    res: dict[tuple[str, int], dict[str, float]] = {}
    for method in ("nn", "propagate", "naive"):
        for n in lengths:
            r = res[(method, n)] = _child(args, method, n)
            print(f"{method:<10} {n:>6} {1000 * r['seconds_per_frame']:>9.1f} {r['peak_mb']:>8.1f}")
    lo, hi = lengths[0], lengths[-1]
    for method in ("nn", "propagate", "naive"):
        a, b = res[(method, lo)]["peak_mb"], res[(method, hi)]["peak_mb"]
        print(f"{method}: peak memory at {hi} frames / at {lo} frames = {b / a:.2f}")
    for method in ("nn", "propagate"):
        r, n = res[(method, hi)], res[("naive", hi)]
        print(f"naive / {method} at {hi} frames: peak memory x{n['peak_mb'] / r['peak_mb']:.1f}, "
              f"time per frame x{n['seconds_per_frame'] / r['seconds_per_frame']:.2f}")


if __name__ == "__main__":
    main()
