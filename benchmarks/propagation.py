"""Propagation speed and memory: vosbench against the naive full-affinity computation.

The reference (``naive_step`` below) is the computation of CRW ``test.py`` restated: for each
target frame, the affinity of every target cell to every cell of all 21 context frames (frame
0, then the 20 previous frames with CRW's padded duplicates of frame 0 kept as separate
copies), an additive -1e10 radius mask on the 20 short-term frames, division by the
temperature, top-k over all, softmax, weighted sum of the context labels; target cells in
batches of 100 as CRW does. vosbench runs on the same features, in the same process,
interleaved frame by frame so that load from other processes hits both alike.

Measured (ResNet-18 at native 480p, ``crw`` protocol, real DAVIS-2016 sample):

1. encoder time per frame (batched, as ``vosbench run`` does) vs propagation time per frame;
2. per-frame propagation time, naive vs vosbench, and the share of identical predicted pixels
   (after up-sampling and arg-max; each side feeds back its own predictions);
3. vosbench at full context (20 distinct previous frames), the steady state of long videos;
4. peak memory (RSS) of each implementation in its own subprocess on the same features;
5. peak memory of complete ``vosbench run`` processes on generated 480p videos of different
   lengths;
6. sweep cost: the time of each extra grid point against the first;
7. (``--precision-sequences``) J&F with features in bf16 against fp32 (CPU; fp16 needs a GPU).

Example (about 10 minutes on 2 busy CPU cores)::

    python benchmarks/propagation.py --frames 10 --memory-frames 50,200 --sweep-frames 15
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "davis16-val-mini"


# --- the reference ---------------------------------------------------------------------------------


def radius_mask(h: int, w: int, radius: float) -> torch.Tensor:
    """(hw, hw) additive mask: 0 where the Euclidean cell distance is below ``radius``, else -1e10."""
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([yy.flatten(), xx.flatten()], 1).float()
    d = torch.cdist(pos, pos)
    return torch.where(d < radius, 0.0, -1e10)


def naive_step(
    query: torch.Tensor,
    keys: list[torch.Tensor],
    labels: list[torch.Tensor],
    mask: torch.Tensor,
    topk: int,
    temperature: float,
    rows: int = 100,
) -> torch.Tensor:
    """CRW-style propagation to one frame. ``keys``/``labels``: frame 0 first, then the short-term
    frames (duplicates included); the mask applies to the short-term frames only."""
    C, h, w = query.shape
    hw = h * w
    K = labels[0].shape[0]
    n = len(keys)
    kall = torch.stack(keys).reshape(n, C, hw).permute(1, 0, 2).reshape(C, n * hw)
    lall = torch.stack(labels).reshape(n, K, hw).permute(0, 2, 1).reshape(n * hw, K)
    q = query.reshape(C, hw).t()
    out = torch.empty(hw, K, device=query.device)
    for r0 in range(0, hw, rows):
        r1 = min(hw, r0 + rows)
        a = q[r0:r1] @ kall  # (rows, 21 * hw): the full affinity
        a.view(r1 - r0, n, hw)[:, 1:] += mask[r0:r1, None, :]
        a /= temperature
        v, i = torch.topk(a, topk, dim=1)
        wgt = torch.softmax(v, dim=1)
        out[r0:r1] = torch.einsum("nk,nkc->nc", wgt, lall[i])
    return out.t().reshape(K, h, w)


def naive_context(t: int, n_ctx: int) -> list[int]:
    """Real frame indices of CRW's context for target ``t``: frame 0, then t-n_ctx .. t-1 with
    indices below 0 meaning frame 0 (its padded copies)."""
    return [0] + [max(0, t - n_ctx + i) for i in range(n_ctx)]


# --- helpers ---------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS in MB (VmHWM; ru_maxrss would include the parent's at the fork)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024.0
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_child(cmd: list[str]) -> str:
    """Run ``cmd`` in a subprocess (its peak RSS is its own) and return its stdout."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"subprocess failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return proc.stdout


def symlinked_davis16(src: Path, seq: str, frames: int, dst: Path) -> Path:
    """A DAVIS-2016-layout folder whose one sequence is the first ``frames`` frames of ``seq``,
    as symbolic links to the real files (nothing is copied)."""
    img = sorted((src / "JPEGImages/480p" / seq).glob("*.jpg"))[:frames]
    lines = []
    for p in img:
        for kind, ext in (("JPEGImages", ".jpg"), ("Annotations", ".png")):
            link = dst / kind / "480p" / seq / f"{p.stem}{ext}"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(src / kind / "480p" / seq / f"{p.stem}{ext}")
        lines.append(f"/JPEGImages/480p/{seq}/{p.stem}.jpg /Annotations/480p/{seq}/{p.stem}.png")
    sets = dst / "ImageSets/480p"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("\n".join(lines) + "\n")
    return dst


# --- workers (run in subprocesses for per-implementation peak memory) ------------------------------


def worker(args: argparse.Namespace) -> None:
    from vosbench.propagation.knn import ContextBuffer, predict
    from vosbench.propagation.protocol import get_protocol

    data = torch.load(args.features)
    feats, lab0 = data["feats"], data["lab0"]
    p = get_protocol("crw")
    C, h, w = feats[0].shape
    steps = min(args.steps, len(feats) - 1)
    if args.worker == "naive":
        mask = radius_mask(h, w, p.radius)
        labels = [lab0]
        for t in range(1, steps + 1):
            ctx = naive_context(t, p.context)
            soft = naive_step(feats[t], [feats[i] for i in ctx], [labels[i] for i in ctx], mask, p.topk, p.temperature)
            labels.append(soft)
    elif args.worker == "vosbench":
        buf = ContextBuffer(p)
        buf.start(feats[0], lab0)
        for t in range(1, steps + 1):
            buf.push(feats[t], predict(feats[t], buf.frames(), p, workspace=buf.workspace))
    print(json.dumps({"peak_mb": peak_rss_mb()}))


# --- the benchmark -----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DATA), help="DAVIS-2016-layout folder (default: the shared sample)")
    ap.add_argument("--sequence", default="blackswan")
    ap.add_argument("--frames", type=int, default=10, help="frames of the sequence to propagate (naive: ~5-10 s each)")
    ap.add_argument("--memory-steps", type=int, default=2, help="propagation steps per memory subprocess")
    ap.add_argument("--memory-frames", default="50,200", help="lengths of the generated 480p videos ('' = skip)")
    ap.add_argument("--sweep-frames", type=int, default=15, help="frames for the sweep cost (0 = skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all CPUs)")
    ap.add_argument(
        "--precision-sequences", default="", help="comma-separated sequences on which to compare J&F of bf16 and fp32 ('' = skip)"
    )
    ap.add_argument("--worker", choices=["naive", "vosbench", "base"], help=argparse.SUPPRESS)
    ap.add_argument("--features", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        worker(args)
        return

    from vosbench.propagation.engine import (
        Timings,
        decode_labels,
        frame_features,
        labels_at_features,
        sequence_label_ids,
        use_all_cpu_threads,
    )
    from vosbench.datasets.factory import load_dataset
    from vosbench.models.factory import create_model
    from vosbench.propagation.knn import ContextBuffer, ContextFrame, Workspace, predict
    from vosbench.propagation.protocol import get_protocol

    if not args.threads:
        use_all_cpu_threads()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    p = get_protocol("crw")
    ds = load_dataset("davis16-val", args.data_root)
    seq = ds.sequence(args.sequence)
    n = min(args.frames, len(seq))
    model = create_model("resnet18").eval()
    dev = torch.device("cpu")

    # 1. features, as `vosbench run` computes them (decode thread, batches of 4, L2 norm)
    tm = Timings()
    feats = [f.clone() for _, f in frame_features(seq, model, p, dev, tm, batch_size=4, frames=list(range(n)))]
    C, h, w = feats[0].shape
    label_ids, annos = sequence_label_ids(seq)
    H, W = annos[0].shape
    lab0 = labels_at_features(torch.from_numpy(annos[0]), label_ids, (h, w), p)
    enc = tm.features_s / n
    print(f"\n{args.sequence}: {n} frames {W}x{H} -> features {C}x{h}x{w}; protocol {p.describe()}")
    print(f"encoder (resnet18, batch 4): {enc:.3f} s/frame (+ JPEG decoding {tm.decode_s / n:.3f} s/frame)")

    # 2. naive vs vosbench, interleaved frame by frame, each feeding back its own predictions
    mask = radius_mask(h, w, p.radius)
    nl = [lab0]
    buf = ContextBuffer(p)
    buf.start(feats[0], lab0)
    tn, tv, same, diffs = [], [], [], []
    for t in range(1, n):
        t0 = time.perf_counter()
        ctx = naive_context(t, p.context)
        sn = naive_step(feats[t], [feats[i] for i in ctx], [nl[i] for i in ctx], mask, p.topk, p.temperature)
        t1 = time.perf_counter()
        sv = predict(feats[t], buf.frames(), p, workspace=buf.workspace)
        t2 = time.perf_counter()
        tn.append(t1 - t0)
        tv.append(t2 - t1)
        nl.append(sn)
        buf.push(feats[t], sv)
        a, b = decode_labels(sn, H, W, H, W, p), decode_labels(sv, H, W, H, W, p)
        same.append((a == b).float().mean().item())
        diffs.append((sn - sv).abs().max().item())
        print(f"  frame {t:3d}: naive {tn[-1]:6.2f} s   vosbench {tv[-1]:6.3f} s   identical pixels {100 * same[-1]:.3f}%")
    naive_s, vos_s = statistics.mean(tn), statistics.mean(tv)

    # 3. steady state: frame 0 + 20 distinct previous frames (long videos, t >= 21)
    ws = Workspace()
    ctx = [ContextFrame(feats[0], lab0, 1, False)] + [
        ContextFrame(feats[1 + i % (n - 1)].clone(), nl[1 + i % (n - 1)], 1, True) for i in range(p.context)
    ]
    predict(feats[-1], ctx, p, workspace=ws)
    steady = []
    for _ in range(3):
        t0 = time.perf_counter()
        predict(feats[-1], ctx, p, workspace=ws)
        steady.append(time.perf_counter() - t0)
    steady_s = statistics.median(steady)
    print("\nper-frame propagation (same features, same process, interleaved):")
    print(f"  naive full affinity      {naive_s:7.3f} s/frame")
    print(f"  vosbench (frames 1..{n - 1})  {vos_s:7.3f} s/frame   -> {naive_s / vos_s:5.1f}x faster")
    print(f"  vosbench, full context   {steady_s:7.3f} s/frame   -> {naive_s / steady_s:5.1f}x faster (steady state)")
    print(
        f"  identical predicted pixels: {100 * statistics.mean(same):.3f}% (worst frame {100 * min(same):.3f}%), "
        f"max |soft difference| {max(diffs):.2e}"
    )
    print(f"  encoder {enc:.3f} s/frame vs propagation {steady_s:.3f} s/frame (steady state)")

    with tempfile.TemporaryDirectory(prefix="vosbench-bench-") as tmp:
        tmp_p = Path(tmp)
        # 4. peak memory per implementation, same features, own subprocess each
        fpath = tmp_p / "features.pt"
        torch.save({"feats": feats, "lab0": lab0}, fpath)
        base = [sys.executable, __file__, "--features", str(fpath), "--steps", str(args.memory_steps)]
        if args.threads:
            base += ["--threads", str(args.threads)]
        peaks = {}
        for kind in ("base", "naive", "vosbench"):
            out = run_child(base + ["--worker", kind])
            peaks[kind] = json.loads(out.strip().splitlines()[-1])["peak_mb"]
        print(f"\npeak memory ({args.memory_steps} propagation steps, {n} frames of features loaded as CRW does):")
        print(f"  loading only {peaks['base']:8.0f} MB")
        for kind in ("naive", "vosbench"):
            print(f"  {kind:12s} {peaks[kind]:8.0f} MB   (+{peaks[kind] - peaks['base']:.0f} MB working memory)")
        work_n, work_v = peaks["naive"] - peaks["base"], max(1.0, peaks["vosbench"] - peaks["base"])
        print(f"  working memory ratio naive / vosbench: {work_n / work_v:.1f}x")

        # 5. peak memory of complete runs on generated 480p videos of different lengths
        lengths = [int(x) for x in args.memory_frames.split(",") if x.strip()]
        if lengths:
            from vosbench.datasets.synthetic.layouts import generate_davis

            print("\npeak memory of `vosbench run --model resnet18` (crw) on generated 854x480 videos:")
            res = {}
            for T in lengths:
                root = generate_davis(tmp_p / f"gen{T}", videos=1, frames=T, size=(854, 480), seed=0)
                cmd = [
                    sys.executable, "-c", "from vosbench.cli.main import main; main()", "run",
                    "--model", "resnet18", "--dataset", "davis17-val", "--data-root", str(root),
                    "--out", str(tmp_p / "runs"), "--device", "cpu",
                ]  # fmt: skip
                t0 = time.perf_counter()
                run_child(cmd)
                wall = time.perf_counter() - t0
                rec = max((tmp_p / "runs" / "davis17-val" / "resnet18").glob("*/summary.json"), key=os.path.getmtime)
                r = json.loads(rec.read_text())
                res[T] = r["timings"]["peak_memory_mb"]
                ti = r["timings"]
                print(
                    f"  {T:4d} frames: peak {res[T]:7.0f} MB   ({wall:.0f} s; features {ti['features_s']:.0f} s, "
                    f"propagation {ti['propagation_s']:.0f} s)"
                )
            if len(res) > 1:
                lo, hi = min(res), max(res)
                print(f"  {hi}-frame / {lo}-frame peak: {res[hi] / res[lo]:.3f}")

        # 6. sweep cost: extra grid points vs the first
        if args.sweep_frames:
            from vosbench.runs import RunConfig, run, run_sweep

            root = symlinked_davis16(Path(args.data_root), args.sequence, args.sweep_frames, tmp_p / "sweep-data")
            for label, sweep in (
                ("topk x temperature (one shared similarity search)", (("topk", ("5", "10", "20")), ("temperature", ("0.05", "0.07")))),
                ("radius (a search per grid point)", (("radius", ("8", "12")),)),
            ):  # fmt: skip
                cfg = RunConfig(
                    model="resnet18", dataset="davis16-val", data_root=str(root), out=str(tmp_p / "sweeps"),
                    device="cpu", sweep=sweep,
                )  # fmt: skip
                t0 = time.perf_counter()
                run(dataclasses.replace(cfg, sweep=()))  # the first grid point's settings, alone
                single = time.perf_counter() - t0
                t0 = time.perf_counter()
                results = run_sweep(cfg)
                wall = time.perf_counter() - t0
                tot = [r.record["timings"]["total_s"] for r in results]
                extra = tot[1:]
                print(f"\nsweep {label}, {args.sweep_frames} frames of {args.sequence}, {len(results)} grid points:")
                for r, s in zip(results, tot):
                    print(f"  {r.record['sweep']['point']}: {s:6.1f} s attributed  J&F {100 * r.record['metrics']['JF_mean']:.1f}")
                print(
                    f"  attributed time, extra grid point / first: mean {statistics.mean(extra) / tot[0]:.2f}, "
                    f"max {max(extra) / tot[0]:.2f}"
                )
                print(
                    f"  wall clock: one run {single:.1f} s, the sweep {wall:.1f} s -> each extra grid point "
                    f"{(wall - single) / (len(results) - 1) / single:.2f} of a run"
                )

        # 7. the effect of half-precision features on J&F
        if args.precision_sequences:
            from vosbench.runs import RunConfig, run

            names = tuple(x.strip() for x in args.precision_sequences.split(",") if x.strip())
            print(f"\nJ&F by feature precision ({', '.join(names)}; resnet18, crw):")
            jf = {}
            for prec in ("fp32", "bf16"):
                cfg = RunConfig(
                    model="resnet18", dataset="davis16-val", data_root=args.data_root, sequences=names,
                    out=str(tmp_p / "precision"), device="cpu", precision=prec,
                )  # fmt: skip
                r = run(cfg)
                m, ti = r.record["metrics"], r.record["timings"]
                jf[prec] = m["JF_mean"]
                print(
                    f"  {prec}: J&F {100 * m['JF_mean']:.2f}  J {100 * m['J_mean']:.2f}  F {100 * m['F_mean']:.2f}  "
                    f"(propagation {ti['propagation_s'] / ti['frames']:.3f} s/frame)"
                )
            print(f"  bf16 - fp32: {100 * (jf['bf16'] - jf['fp32']):+.2f} J&F points")


if __name__ == "__main__":
    main()
