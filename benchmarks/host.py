"""Host-side throughput of a run: frame decoding, prediction PNG writing and J&F scoring.

On a GPU the propagation of a 480p frame takes milliseconds, so a run is as fast as the host work
around it: decode the frame's JPEG, write its predicted PNG, read its GT, measure J and F. This
script does exactly that work, the way ``vosbench run`` does it (``FrameReader`` decoding ahead
across sequences, ``write_and_measure`` per frame, ``SequenceScorer.expect``/``put``), on the
real DAVIS-2016 sample (6 sequences, 282 frames, 854x480), with the previous frame's GT mask as
the prediction (imperfect masks with real boundaries), and no propagation at all. Measured in
the same run:

1. the reference: everything one frame after the other in this process (what one Python thread
   can do, whatever the threads around it);
2. ``--workers 0``: the run's in-process threads;
3. ``--workers N`` for N = 1, 2, 4, ... up to the CPUs: worker processes;
4. the same settings beside a Python-bound main thread that stands in for a GPU run's per-frame
   kernel dispatch (``--dispatch-ops`` tiny torch ops per frame): threads in the run process share
   its interpreter lock, processes do not.

It prints frames/s and the ratio to the reference for each, and checks that every setting gives
the reference's J and F exactly. The GPU path needs about 200 frames/s of host work to keep a
DAVIS-sized run under 10 s; the table says how many workers this machine needs for that.

Example (about a minute on 2 CPU cores)::

    python benchmarks/host.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vosbench.core.labels import PALETTE, write_label_png  # noqa: E402
from vosbench.core.video import VideoSequence  # noqa: E402
from vosbench.core.workers import FrameReader, HostPool, usable_cpus  # noqa: E402
from vosbench.scoring.frame_output import write_and_measure  # noqa: E402
from vosbench.scoring.jf import SequenceScorer, measure_frame  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "davis16-val-mini"


def sequences(root: Path) -> list[VideoSequence]:
    out = []
    for d in sorted((root / "JPEGImages/480p").iterdir()):
        frames = sorted(p.stem for p in d.glob("*.jpg"))
        gt = {t: root / "Annotations/480p" / d.name / f"{f}.png" for t, f in enumerate(frames)}
        out.append(
            VideoSequence(d.name, frames, [d / f"{f}.jpg" for f in frames], {0: gt[0]}, gt, binary_masks=True)
        )
    return out


def predictions(seqs: list[VideoSequence]) -> dict[str, list[np.ndarray]]:
    """The previous frame's GT as each frame's prediction (frame 0: its own)."""
    out = {}
    for s in seqs:
        gts = [s.read_gt(t) for t in range(len(s))]
        out[s.name] = [gts[0]] + gts[:-1]
    return out


def reference(seqs: list[VideoSequence], preds: dict[str, list[np.ndarray]], out: Path) -> list[np.ndarray]:
    """One frame after the other, in this process."""
    results = []
    for s in seqs:
        scorer = SequenceScorer(s.name)
        for t in range(len(s)):
            s.read_image(t)
            write_label_png(out / f"{s.name}-{t}.png", preds[s.name][t], PALETTE)
            gt = s.read_gt(t)
            if t == 0:
                scorer.expect(s.frames[t], gt0=gt)
            else:
                check = scorer.expect(s.frames[t])
                scorer.put(check, *measure_frame(check, gt, preds[s.name][t]))
        results.extend(np.array([o.J_mean, o.F_mean]) for o in scorer.result())
    return results


def dispatch_stand_in(ops: int):
    """A Python-bound step standing in for a GPU run's per-frame dispatch (the profile of a GPU
    run shows ~1,250 small kernels per frame launched from Python): ``ops`` tiny torch ops."""
    import torch

    x = torch.zeros(64)

    def step() -> None:
        for _ in range(ops // 2):
            x.add_(1.0).mul_(0.5)

    return step


def pooled(
    seqs: list[VideoSequence], preds: dict[str, list[np.ndarray]], out: Path, workers: int, step=None
) -> list[np.ndarray]:
    """As ``vosbench run --workers N`` does it (see vosbench.runs.vos); ``step()`` runs in this
    thread once per frame (``None``: nothing, no propagation at all)."""
    results = []
    with HostPool(workers) as pool:
        # with workers: decoded there, ahead, across sequences; without: the engine's own thread
        reader = FrameReader(pool, seqs, depth=2 * workers) if workers else None
        in_flight = max(16, 4 * workers)
        pending: list = []

        def drain(limit: int) -> None:
            while pending and (len(pending) > limit or pending[0][0].done()):
                fut, scorer, check = pending.pop(0)
                m, _ = pool.result(fut)
                if m is not None:
                    scorer.put(check, m.j, m.f)

        for s in seqs:
            scorer = SequenceScorer(s.name)
            frames = engine_thread(s) if reader is None else None
            for t in range(len(s)):
                if reader is not None:
                    reader.read(s, t)
                else:
                    next(frames)
                if step is not None:
                    step()
                png = out / f"{s.name}-{t}.png"
                if t == 0:
                    check = scorer.expect(s.frames[t], gt0=s.read_gt(t))
                    gt = None
                else:
                    check = scorer.expect(s.frames[t])
                    gt = s.gt[t]
                fut = pool.submit(write_and_measure, preds[s.name][t], png, PALETTE, check, gt, True, False)
                pending.append((fut, scorer, check))
                drain(in_flight)
            drain(0)
            results.extend(np.array([o.J_mean, o.F_mean]) for o in scorer.result())
        if reader is not None:
            reader.close()
    return results


def engine_thread(seq: VideoSequence, prefetch: int = 4):
    """Frames decoded by one thread, ``prefetch`` ahead (``propagation.engine.frame_features``
    without a reader)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as ex:
        pending = [ex.submit(seq.read_image, t) for t in range(min(prefetch, len(seq)))]
        for t in range(len(seq)):
            img = pending.pop(0).result()
            if t + prefetch < len(seq):
                pending.append(ex.submit(seq.read_image, t + prefetch))
            yield img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="DAVIS-2016 layout (default: the shared sample)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions per setting (median reported)")
    ap.add_argument("--dispatch-ops", type=int, default=1000, help="tiny torch ops per frame in the Python-bound stand-in for GPU dispatch (0: skip that table)")
    ap.add_argument("--workers", default=None, help="comma-separated worker counts (default: 1, 2, 4, ... up to the CPUs)")
    args = ap.parse_args()
    if not (args.data / "JPEGImages/480p").is_dir():
        sys.exit(f"{args.data}: no DAVIS-2016 layout (JPEGImages/480p); pass --data")
    seqs = sequences(args.data)
    n_frames = sum(len(s) for s in seqs)
    preds = predictions(seqs)
    cpus = usable_cpus()
    counts = [int(x) for x in args.workers.split(",")] if args.workers else sorted({0, *[2**i for i in range(8) if 2**i <= cpus], cpus})
    print(f"{len(seqs)} sequences, {n_frames} frames ({seqs[0].read_image(0).shape[1]}x{seqs[0].read_image(0).shape[0]}), "
          f"{cpus} CPUs usable, {args.repeat} repetition(s), median wall time")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        want = reference(seqs, preds, out)  # warm-up (file cache) and the reference numbers
        times = [time_it(lambda: reference(seqs, preds, out)) for _ in range(args.repeat)]
        ref_s = statistics.median(times)
        print(f"\n{'setting':<28}{'seconds':>9}{'frames/s':>10}{'vs reference':>14}  same J and F")
        print(f"{'reference (one after other)':<28}{ref_s:>9.2f}{n_frames / ref_s:>10.1f}{1.0:>13.2f}x  -")
        for w in counts:
            got = pooled(seqs, preds, out, w)  # starts the workers once before timing
            same = len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))
            secs = statistics.median(time_it(lambda: pooled(seqs, preds, out, w)) for _ in range(args.repeat))
            label = "--workers 0 (threads)" if w == 0 else f"--workers {w} (processes)"
            print(f"{label:<28}{secs:>9.2f}{n_frames / secs:>10.1f}{ref_s / secs:>13.2f}x  {'yes' if same else 'NO'}")
            if not same:
                sys.exit("a pooled setting gave other J/F than the reference")
        if args.dispatch_ops:
            dispatch_table(seqs, preds, out, counts, args)
    per_core = n_frames / ref_s
    print(f"\none core does about {per_core:.0f} frames/s of host work; 200 frames/s needs about "
          f"{int(np.ceil(200 / per_core))} busy worker(s) (worker start-up included in each timed run above)")


def dispatch_table(seqs, preds, out: Path, counts: list[int], args) -> None:
    """The host work beside a Python-bound main thread: threads share its GIL, processes do not."""
    n_frames = sum(len(s) for s in seqs)
    step = dispatch_stand_in(args.dispatch_ops)

    def alone() -> None:
        for _ in range(n_frames):
            step()

    base = statistics.median(time_it(alone) for _ in range(args.repeat))
    print(f"\nwith a Python-bound main thread ({args.dispatch_ops} tiny torch ops per frame, "
          f"{1e3 * base / n_frames:.1f} ms per frame alone, {n_frames / base:.0f} frames/s):")
    print(f"{'setting':<28}{'seconds':>9}{'frames/s':>10}{'vs dispatch alone':>19}")
    for w in counts:
        secs = statistics.median(time_it(lambda: pooled(seqs, preds, out, w, step)) for _ in range(args.repeat))
        label = "--workers 0 (threads)" if w == 0 else f"--workers {w} (processes)"
        print(f"{label:<28}{secs:>9.2f}{n_frames / secs:>10.1f}{secs / base:>18.2f}x")


def time_it(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
