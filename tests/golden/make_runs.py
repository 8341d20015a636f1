"""Writes the fixed run records under tests/golden/runs/ used by the leaderboard and check tests.

Run once by hand (``python tests/golden/make_runs.py``) when the record format changes; the output
is committed. The numbers are arbitrary but consistent: each summary's J/F statistics are the means
over the objects of its per_object.csv, as `vosbench run` computes them.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent / "runs"

CRW = {
    "name": "crw", "version": 1, "resize": "native", "size": 0, "context": 20, "first_frame": True,
    "pad_with_first": True, "radius": 12.0, "window": "circle", "radius_on_first": False, "topk": 10,
    "temperature": 0.05, "l2_normalize": True, "label_downsample": "bilinear", "feedback": "soft",
    "norm_mask": False,
}
CRW_JHMDB = {**CRW, "name": "crw-jhmdb", "resize": "square", "size": 320, "context": 7}
ENV = {"vosbench": "0.1.0", "git_commit": None, "torch": "2.14.1", "python": "3.11.7", "device": "cpu",
       "platform": "fixture"}
STATS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")


def write_run(dataset, model, run_id, created, protocol, objects=None, metrics=None, task="vos",
              checkpoint=None, sha=None, options=None, extra_metrics=None, sequences=None, status="complete",
              random_init=False):
    d = OUT / dataset / model / run_id
    d.mkdir(parents=True)
    if objects is not None:
        with (d / "per_object.csv").open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["sequence", "object", *STATS])
            for seq, obj, *vals in objects:
                w.writerow([seq, obj, *vals])
        n = len(objects)
        metrics = {k: sum(o[2 + i] for o in objects) / n for i, k in enumerate(STATS)}
        metrics = {"JF_mean": (metrics["J_mean"] + metrics["F_mean"]) / 2, **metrics}
        sequences = list(dict.fromkeys(o[0] for o in objects))
    metrics = {**(metrics or {}), **(extra_metrics or {})}
    summary = {
        "schema_version": 1,
        "run_id": run_id,
        "created": created,
        "status": status,
        "task": task,
        "model": {"name": model, "checkpoint": checkpoint, "checkpoint_sha256": sha, "options": options or {},
                  "source": "built-in", "random_init": random_init},
        "dataset": {"name": dataset, "root": f"/data/{dataset}", "task": task, "sequences": sequences or []},
        "protocol": protocol,
        "metrics": metrics,
        "environment": ENV,
        "timings": {"features_s": 1.0, "propagation_s": 2.0, "evaluation_s": 0.5, "total_s": 3.5, "frames": 100,
                    "frames_per_s": 28.6, "peak_memory_mb": 512.0},
    }
    (d / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    # davis16-val: lab twice (the later run wins), lab with top-5 (a separate protocol), identity,
    # resnet18 from a checkpoint file.
    write_run("davis16-val", "lab", "20261120-100000-aaaaaa", "2026-11-20T10:00:00+00:00", CRW, objects=[
        ("blackswan", 1, 0.80, 1.0, 0.05, 0.70, 0.9, 0.10),
        ("dog", 1, 0.40, 0.4, 0.30, 0.35, 0.3, 0.35),
    ])
    write_run("davis16-val", "lab", "20261121-090000-bbbbbb", "2026-11-21T09:00:00+00:00", CRW, objects=[
        ("blackswan", 1, 0.82, 1.0, 0.04, 0.74, 0.9, 0.08),
        ("dog", 1, 0.44, 0.5, 0.28, 0.37, 0.3, 0.30),
    ])
    write_run("davis16-val", "lab", "20261121-120000-cccccc", "2026-11-21T12:00:00+00:00", {**CRW, "topk": 5},
              objects=[
                  ("blackswan", 1, 0.79, 1.0, 0.06, 0.72, 0.9, 0.09),
                  ("dog", 1, 0.46, 0.5, 0.25, 0.41, 0.4, 0.31),
              ])
    write_run("davis16-val", "identity", "20261120-110000-dddddd", "2026-11-20T11:00:00+00:00", CRW, objects=[
        ("blackswan", 1, 0.60, 0.8, 0.30, 0.50, 0.6, 0.40),
        ("dog", 1, 0.10, 0.0, 0.50, 0.12, 0.0, 0.45),
    ])
    write_run("davis16-val", "resnet18", "20261122-080000-eeeeee", "2026-11-22T08:00:00+00:00", CRW,
              checkpoint="/home/me/ckpt/r18_k400.pth", sha="3f2a9c1e4b5d6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b",
              objects=[
                  ("blackswan", 1, 0.85, 1.0, 0.02, 0.80, 1.0, 0.05),
                  ("dog", 1, 0.50, 0.6, 0.20, 0.52, 0.6, 0.18),
              ])
    # A newer identity run on one sequence only: a row of its own, never "the latest" full run.
    write_run("davis16-val", "identity", "20261126-080000-dddddd", "2026-11-26T08:00:00+00:00", CRW, objects=[
        ("dog", 1, 0.11, 0.0, 0.50, 0.12, 0.0, 0.45),
    ])
    # A newer lab run that failed: never the "latest" row.
    write_run("davis16-val", "lab", "20261125-080000-ffffff", "2026-11-25T08:00:00+00:00", CRW, metrics={},
              status="failed")
    # davis17-val: multi-object, random init, to sit beside the published rows.
    write_run("davis17-val", "resnet18", "20261123-080000-ffffff", "2026-11-23T08:00:00+00:00", CRW, random_init=True,
              objects=[
        ("bike-packing", 1, 0.55, 0.6, 0.20, 0.60, 0.7, 0.15),
        ("bike-packing", 2, 0.45, 0.4, 0.25, 0.50, 0.5, 0.20),
        ("shooting", 1, 0.30, 0.2, 0.10, 0.40, 0.3, 0.12),
    ])
    # jhmdb-split1 (pose) and ytvos18-val (seen/unseen).
    write_run("jhmdb-split1", "lab", "20261124-080000-gggggg", "2026-11-24T08:00:00+00:00", CRW_JHMDB, task="pose",
              metrics={"PCK@0.1": 0.4123, "PCK@0.2": 0.7011, "PCK_pooled@0.1": 0.40, "PCK_pooled@0.2": 0.69,
                       "pck_curve": {"0.05": 0.2, "0.1": 0.4123, "0.2": 0.7011, "0.3": 0.82, "0.4": 0.9, "0.5": 0.95}},
              sequences=["brush_hair_1", "catch_2"])
    with (OUT / "jhmdb-split1" / "lab" / "20261124-080000-gggggg" / "per_video_pck.csv").open("w") as f:
        f.write("video,n,PCK@0.1,PCK@0.2\nbrush_hair_1,420,0.45,0.72\ncatch_2,390,0.37,0.68\n")
    write_run("ytvos18-val", "lab", "20261124-090000-hhhhhh", "2026-11-24T09:00:00+00:00", CRW, objects=[
        ("0a1b2c", 1, 0.60, 0.7, 0.1, 0.62, 0.7, 0.1),
        ("0a1b2c", 3, 0.40, 0.4, 0.2, 0.45, 0.5, 0.2),
    ], extra_metrics={"overall": 0.5075, "J_seen": 0.60, "F_seen": 0.62, "J_unseen": 0.40, "F_unseen": 0.41})


if __name__ == "__main__":
    main()
