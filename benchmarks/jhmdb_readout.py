"""PCK of the faithful ``crw-jhmdb`` preset against ``crw-jhmdb-centred``, on synthetic-jhmdb.

``crw-jhmdb`` is CRW's own pipeline: Gaussian label maps on the rounded cell of ``x * Wp / W / s``,
top-3 soft-argmax, ``x = x_cell / 40 * W`` back to pixels, joints scored only where predicted.
``crw-jhmdb-centred`` encodes the exact sub-cell position, decodes by cell centres and scores every
visible GT joint. Each model runs the whole propagation once per preset (the label maps differ, so
the propagations do); a "GT round trip" line reads each frame's own GT maps back (no propagation),
which isolates the encode/decode error of each convention.

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

PRESETS = ("crw-jhmdb", "crw-jhmdb-centred")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="lab,resnet18")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from vosbench.datasets.factory import load_dataset
    from vosbench.datasets.jhmdb import JOINTS
    from vosbench.datasets.synthetic import generate_jhmdb
    from vosbench.models.factory import create_model
    from vosbench.propagation.engine import Timings, feature_size, processed_size
    from vosbench.propagation.keypoints import (
        cells_from_pixels,
        crw_cells_from_pixels,
        crw_label_maps,
        crw_pixels_from_cells,
        crw_soft_argmax,
        gaussian_maps,
        pixels_from_cells,
        propagate_pose,
        soft_argmax,
    )
    from vosbench.propagation.protocol import get_protocol
    from vosbench.scoring.pck import PCKAccumulator

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "jhmdb"
        generate_jhmdb(root, videos=args.videos, frames=args.frames, seed=args.seed)
        ds = load_dataset("synthetic-jhmdb", root)
        seqs = [ds.sequence(n) for n in ds.sequence_names()]
        print(f"synthetic-jhmdb: {len(seqs)} videos x {args.frames} frames (320x240)")
        print(f"{'model':<16} {'preset':<20} {'PCK@0.05':>8} {'PCK@0.1':>8} {'PCK@0.2':>8} {'time':>6}")
        for name in [m for m in args.models.split(",") if m] + ["GT round trip"]:
            res = {}
            for preset in PRESETS:
                proto = get_protocol(preset)
                crw = proto.keypoints == "crw"
                acc = PCKAccumulator(JOINTS, visibility="prediction" if crw else "gt")
                t0 = time.perf_counter()
                for seq in seqs:
                    assert seq.keypoints is not None
                    if name == "GT round trip":
                        h, w = 240, 320
                        hp, wp = processed_size(h, w, proto)
                        fh, fw = feature_size(hp, wp, 8)
                        if crw:
                            pred = np.stack([
                                crw_pixels_from_cells(
                                    crw_soft_argmax(crw_label_maps(crw_cells_from_pixels(k, h, w, hp, wp, 8), fh, fw)[1:]),
                                    h, w, fh, fw,
                                )
                                for k in seq.keypoints
                            ])
                        else:
                            pred = np.stack([
                                pixels_from_cells(
                                    soft_argmax(gaussian_maps(cells_from_pixels(k, h, w, hp, wp, 8), fh, fw)[1:]),
                                    h, w, hp, wp, 8,
                                )
                                for k in seq.keypoints
                            ])
                    else:
                        model = create_model(name)
                        pred = np.stack([k for _, k in propagate_pose(seq, model, proto, torch.device("cpu"), Timings())])
                    acc.add(seq.name, pred, seq.keypoints)
                r = acc.result()
                res[preset] = [100 * r.mean()[r.at(a)] for a in (0.05, 0.1, 0.2)]
                print(
                    f"{name:<16} {preset:<20}" + "".join(f" {v:8.1f}" for v in res[preset])
                    + f" {time.perf_counter() - t0:5.0f}s"
                )
            diff = [a - b for a, b in zip(res["crw-jhmdb"], res["crw-jhmdb-centred"])]
            print(f"{name:<16} {'faithful - centred':<20}" + "".join(f" {v:+8.1f}" for v in diff))


if __name__ == "__main__":
    main()
