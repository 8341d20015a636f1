"""Time ``vosbench eval`` against vos-benchmark on the same prediction folder.

Both run as fresh commands (interpreter start, imports, worker pool and scoring included) with the
same number of worker processes, on identity predictions (frame-0 mask copied to every frame) of
the real DAVIS-2016 sample in ``../shared/data/davis16-val-mini``, written to a temporary folder as
0/255 greyscale PNGs. vos-benchmark writes ``results.csv`` into the folder it scores, so it gets its
own copy. Prints each run's times, the median ratio, and whether the per-object J-Mean and F-Mean
of the two tools are identical.

Usage:
    python benchmarks/eval_speed.py [--workers 2] [--repeats 3] [--data ../shared/data/davis16-val-mini]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "davis16-val-mini"

# Runs vos-benchmark's own entry function and saves its per-object means (percent) as JSON.
VB_SCRIPT = """
import json, sys
from vos_benchmark.benchmark import benchmark
_, _, _, objs = benchmark([sys.argv[1]], [sys.argv[2]], num_processes=int(sys.argv[3]), verbose=False)
out = {seq: {str(k): [float(j[k]), float(f[k])] for k in j} for seq, (j, f) in objs[0].items()}
json.dump(out, open(sys.argv[4], "w"))
"""


def write_identity_predictions(gt_root: Path, out: Path) -> int:
    """Frame-0 mask of each sequence copied to every frame (same file names); returns frame count."""
    n = 0
    for seq in sorted(p for p in gt_root.iterdir() if p.is_dir()):
        frames = sorted(seq.glob("*.png"))
        first = np.asarray(Image.open(frames[0]))
        (out / seq.name).mkdir(parents=True)
        for f in frames:
            Image.fromarray(first).save(out / seq.name / f.name)
            n += 1
    return n


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    gt = args.data / "Annotations" / "480p"
    if not gt.is_dir():
        sys.exit(f"no DAVIS-2016 sample at {args.data}")
    try:
        import vos_benchmark  # noqa: F401
    except ImportError:
        sys.exit("vos-benchmark is not installed (pip install vos-benchmark==0.1.0)")

    with tempfile.TemporaryDirectory(prefix="vosbench-evalspeed-") as tmp:
        tmp = Path(tmp)
        pred = tmp / "pred"
        n_frames = write_identity_predictions(gt, pred)
        vb_pred = tmp / "pred_vb"
        shutil.copytree(pred, vb_pred)
        out_csv, vb_json = tmp / "out" / "vosbench.csv", tmp / "vb.json"
        ours = [sys.executable, "-m", "vosbench.cli.main", "eval", "--gt", str(gt), "--pred", str(pred),
                "--workers", str(args.workers), "--out", str(out_csv)]
        theirs = [sys.executable, "-c", VB_SCRIPT, str(gt), str(vb_pred), str(args.workers), str(vb_json)]
        print(f"{n_frames} frames, {len(list(pred.iterdir()))} sequences, {args.workers} workers, "
              f"{args.repeats} runs each (alternating)")
        t_ours, t_vb = [], []
        for i in range(args.repeats):
            t_ours.append(timed(ours))
            t_vb.append(timed(theirs))
            print(f"  run {i + 1}: vosbench eval {t_ours[-1]:.3f} s   vos-benchmark {t_vb[-1]:.3f} s")

        with open(out_csv, newline="") as f:
            mine = {(r["sequence"], int(r["object"])): (float(r["J_mean"]), float(r["F_mean"]))
                    for r in csv.DictReader(f)}
        vb = json.loads(vb_json.read_text())
        # DAVIS-2016 masks are 0/255: vos-benchmark calls the object 255, the DAVIS rule calls it 1
        other = {(s, 1 if int(k) == 255 else int(k)): (v[0] / 100, v[1] / 100) for s, objs in vb.items()
                 for k, v in objs.items()}
        same_keys = set(mine) == set(other)
        diff = max(abs(a - b) for k in mine if k in other for a, b in zip(mine[k], other[k]))

    m_ours, m_vb = statistics.median(t_ours), statistics.median(t_vb)
    print(f"vosbench eval : median {m_ours:.3f} s  (min {min(t_ours):.3f})")
    print(f"vos-benchmark : median {m_vb:.3f} s  (min {min(t_vb):.3f})")
    print(f"speed-up      : {m_vb / m_ours:.2f}x (median), {min(t_vb) / min(t_ours):.2f}x (min)")
    print(f"per-object J-Mean/F-Mean identical: {same_keys and diff <= 1e-9} "
          f"({len(mine)} objects, max abs difference {diff:.2e})")


if __name__ == "__main__":
    main()
