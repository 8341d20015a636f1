"""Time the confidence intervals of a leaderboard: 10 runs x 30 sequences (59 objects, as
DAVIS-2017 val), 10,000 bootstrap resamples per row, written as real run folders and read back.

    python benchmarks/stats_speed.py [--runs 10] [--sequences 30] [--resamples 10000]

Prints the time of ``vosbench leaderboard --ci`` work (reading the per-object files, resampling,
rendering) and of the same with ``--significance``; the target is under 2 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def write_runs(root: Path, runs: int, sequences: int) -> None:
    rng = np.random.default_rng(0)
    objects = np.full(sequences, 2)
    objects[: max(0, 59 - 2 * sequences)] = 1  # 30 sequences -> 59 objects, as DAVIS-2017 val
    difficulty = rng.uniform(0.3, 0.9, size=sequences)
    for r in range(runs):
        run_id = f"20261201-000000-{r:06d}"
        run = root / "davis17-val" / f"model{r}" / run_id
        run.mkdir(parents=True)
        rows = []
        for s in range(sequences):
            for o in range(objects[s]):
                j = float(np.clip(difficulty[s] + 0.01 * r + rng.normal(0, 0.05), 0, 1))
                f = float(np.clip(j + rng.normal(0.02, 0.03), 0, 1))
                rows.append([f"seq{s:02d}", o + 1, j, 0.9, 0.1, f, 0.9, 0.1])
        with (run / "per_object.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["sequence", "object", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"])
            w.writerows(rows)
        jm = float(np.mean([x[2] for x in rows]))
        fm = float(np.mean([x[5] for x in rows]))
        summary = {
            "schema_version": 1, "run_id": run_id, "created": "2026-12-01T00:00:00+00:00", "status": "complete",
            "task": "vos", "model": {"name": f"model{r}", "checkpoint": None, "options": {}},
            "dataset": {"name": "davis17-val", "sequences": [f"seq{s:02d}" for s in range(sequences)]},
            "protocol": {"name": "crw", "version": 1, "topk": 10},
            "metrics": {"JF_mean": (jm + fm) / 2, "J_mean": jm, "F_mean": fm, "J_recall": 0.9, "J_decay": 0.1,
                        "F_recall": 0.9, "F_decay": 0.1},
        }
        (run / "summary.json").write_text(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sequences", type=int, default=30)
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()

    from vosbench.results import leaderboard as lb
    from vosbench.results import leaderboard_stats as lbs
    from vosbench.records.reader import find_records

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_runs(root, args.runs, args.sequences)
        warm = lb.build(find_records(root))  # first calls import scipy; not what is timed
        lbs.attach_intervals(warm, find_records(root), n_resamples=100)
        lbs.attach_significance(warm, find_records(root), n_resamples=100)
        t0 = time.perf_counter()
        records = find_records(root)
        board = lb.build(records)
        lbs.attach_intervals(board, records, n_resamples=args.resamples)
        text = lb.render(board, "md")
        t_ci = time.perf_counter() - t0
        t0 = time.perf_counter()
        board = lb.build(records)
        lbs.attach_intervals(board, records, n_resamples=args.resamples)
        lbs.attach_significance(board, records, n_resamples=args.resamples)
        lb.render(board, "md")
        t_sig = time.perf_counter() - t0
    metrics = len(board.tables[0].rows[0].ci)
    print(f"{args.runs} runs x {args.sequences} sequences, {metrics} metrics per row, {args.resamples} resamples")
    print(f"leaderboard with intervals: {t_ci:.3f} s")
    print(f"leaderboard with intervals and significance vs best: {t_sig:.3f} s")
    print(text.splitlines()[6])


if __name__ == "__main__":
    main()
