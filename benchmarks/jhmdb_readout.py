"""How much CRW's ``feat_res = 40`` read-out shortcut moves PCK, on synthetic-jhmdb.

vosbench maps a soft-argmax position in feature cells back to original pixels by cell centres,
``x = (x_cell + 0.5) * s * W / Wp - 0.5``. CRW's ``eval_pck.py`` uses ``x = x_cell / 40 * W`` (the
cell's corner; 40 = 320 / 8 hard-coded). Both read-outs are applied here to the *same* propagated
label maps (one propagation per video, ``crw-jhmdb`` protocol), and the PCK of each is printed with
the difference in points. A third line, "GT round trip", reads out the frame's own GT label maps
(no propagation), which isolates the read-out error itself.

Usage:
    python benchmarks/jhmdb_readout.py [--models lab,resnet18] [--videos 3] [--frames 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="lab,resnet18")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from vosbench.datasets.jhmdb import JOINTS
    from vosbench.datasets.synthetic import generate_jhmdb
    from vosbench.propagation.engine import Timings, feature_size, processed_size
    from vosbench.datasets.factory import load_dataset
    from vosbench.models.factory import create_model
    from vosbench.scoring.pck import PCKAccumulator
    from vosbench.propagation.keypoints import (
        cells_from_pixels,
        crw_pixels_from_cells,
        gaussian_maps,
        pixels_from_cells,
        propagate_pose,
        soft_argmax,
    )
    from vosbench.propagation.protocol import get_protocol

    proto = get_protocol("crw-jhmdb")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "jhmdb"
        generate_jhmdb(root, videos=args.videos, frames=args.frames, seed=args.seed)
        ds = load_dataset("synthetic-jhmdb", root)
        seqs = [ds.sequence(n) for n in ds.sequence_names()]
        print(f"synthetic-jhmdb: {len(seqs)} videos x {args.frames} frames (320x240), protocol {proto.describe()}")
        print(f"{'read-out':<34} {'PCK@0.05':>8} {'PCK@0.1':>8} {'PCK@0.2':>8}")
        for name in [m for m in args.models.split(",") if m] + ["GT round trip"]:
            centre, crw = PCKAccumulator(JOINTS), PCKAccumulator(JOINTS)
            t0 = time.perf_counter()
            for seq in seqs:
                h, w = 240, 320
                hp, wp = processed_size(h, w, proto)
                fh, fw = feature_size(hp, wp, 8)
                if name == "GT round trip":
                    cells = [
                        soft_argmax(gaussian_maps(cells_from_pixels(k, h, w, hp, wp, 8), fh, fw)[1:])
                        for k in seq.keypoints
                    ]
                else:
                    model = create_model(name)
                    cells = []
                    for _ in propagate_pose(seq, model, proto, torch.device("cpu"), Timings(), cell_readout=cells):
                        pass
                    cells[0] = soft_argmax(gaussian_maps(cells[0], fh, fw)[1:])  # frame 0 unscored anyway
                c = np.stack(cells)
                centre.add(seq.name, pixels_from_cells(c, h, w, hp, wp, 8), seq.keypoints)
                crw.add(seq.name, crw_pixels_from_cells(c, h, w, fh, fw), seq.keypoints)
            a, b = centre.result(), crw.result()
            idx = [a.at(0.05), a.at(0.1), a.at(0.2)]
            dt = time.perf_counter() - t0
            label = f"{name} ({dt:.0f} s)"
            print(f"{label + ', cell centres':<34}" + "".join(f" {100 * a.mean()[i]:8.1f}" for i in idx))
            print(f"{label + ', CRW x/40*W':<34}" + "".join(f" {100 * b.mean()[i]:8.1f}" for i in idx))
            print(
                f"{'  shortcut - centres (points)':<34}"
                + "".join(f" {100 * (b.mean()[i] - a.mean()[i]):+8.1f}" for i in idx)
            )


if __name__ == "__main__":
    main()
