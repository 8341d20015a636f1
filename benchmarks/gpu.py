"""GPU benchmark: propagation and whole runs at the hardware's pace, in fp32 and half precision.

One short script (sized for under 8 minutes on one GPU) that prints, in one run:

1. per-frame propagation on the same device and the same features (ResNet-18 at native 480p,
   ``crw`` protocol, a real sequence): the naive full-affinity computation (CRW ``test.py``
   restated, ``naive_step`` of benchmarks/propagation.py) against vosbench's batched path (the
   default on CUDA) and its windowed path, with the share of identical predicted pixels (each
   feeding back its own predictions);
2. end to end ``vosbench run`` (``resnet18``, ``crw``) on a generated DAVIS-2017-val-sized set
   (30 videos x 67 frames at 854x480 by default, generated in parallel) per precision: wall time,
   frames/s, the decode / features / propagation / scoring breakdown, peak GPU memory, J&F
   against fp32;
3. J&F per precision on the real DAVIS-2016 sample against fp32 (the target: every offered
   precision within 0.1 points);
4. GPU against CPU on one real sequence: identical predicted pixels and J&F.

``--smoke`` runs a tiny configuration of all four (on CPU the batched path is forced where the
GPU would use it, so both code paths are compared): tests/test_gpu_benchmark.py runs it so that
the script cannot rot. Example::

    python benchmarks/gpu.py                 # on a GPU machine (sized for under 8 minutes; not yet timed)
    python benchmarks/gpu.py --smoke         # anywhere, about a minute on CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
CANDIDATE_DATA = [REPO.parent / "shared" / "data" / "davis16-val-mini", REPO / "shared" / "data" / "davis16-val-mini"]


def _bench_propagation():
    """benchmarks/propagation.py as a module (naive_step, naive_context, radius_mask, symlinked_davis16)."""
    spec = importlib.util.spec_from_file_location("bench_propagation", REPO / "benchmarks" / "propagation.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# --- generated data, in parallel -------------------------------------------------------------------


def _write_video(out: str, i: int, w: int, h: int, n: int, seed: int) -> str:
    """Video ``i`` of ``generate_davis(out, ..., seed=seed)``, byte for byte (one worker process)."""
    from vosbench.core.labels import encode_label_png
    from vosbench.datasets.synthetic.layouts import _image, _jpeg, _put, _rng
    from vosbench.datasets.synthetic.scenarios import davis_scenario, davis_scene

    scene = davis_scene(_rng("davis", seed, i), i, w, h, n)
    name = f"{davis_scenario(i)}-{i}"
    root = Path(out)
    for t in range(n):
        frame = scene.render(t)
        _put(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", _jpeg(_image(frame.image)))
        _put(root / "Annotations" / "480p" / name / f"{t:05d}.png", encode_label_png(frame.labels))
    return name


def generate(out: Path, videos: int, frames: int, size: tuple[int, int], workers: int, seed: int = 0) -> Path:
    """A DAVIS-2017-layout set, one worker process per video at a time."""
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = [pool.submit(_write_video, str(out), i, size[0], size[1], frames, seed) for i in range(videos)]
        names = [f.result() for f in futs]
    sets = out / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("".join(f"{s}\n" for s in names))
    (sets / "train.txt").write_text("")
    return out


# --- 1. per-frame propagation: naive vs vosbench ---------------------------------------------------


def propagation_section(dataset: str, root: Path, seq_name: str, frames: int, dev: torch.device) -> None:
    from vosbench.datasets.factory import load_dataset
    from vosbench.models.factory import create_model
    from vosbench.propagation import batched
    from vosbench.propagation.engine import Timings, decode_labels, frame_features, labels_at_features, sequence_label_ids
    from vosbench.propagation.knn import ContextBuffer, predict
    from vosbench.propagation.precision import float32_mode
    from vosbench.propagation.protocol import get_protocol

    bench = _bench_propagation()
    p = get_protocol("crw")
    seq = load_dataset(dataset, str(root)).sequence(seq_name)
    n = min(frames, len(seq))
    model = create_model("resnet18").eval().to(dev)
    with float32_mode("fp32"):
        tm = Timings()
        feats = [f.clone() for _, f in frame_features(seq, model, p, dev, tm, batch_size=4, frames=list(range(n)))]
        C, h, w = feats[0].shape
        label_ids, annos = sequence_label_ids(seq)
        H, W = annos[min(annos)].shape
        lab0 = labels_at_features(torch.from_numpy(annos[min(annos)]).to(dev), label_ids, (h, w), p)
        mask = bench.radius_mask(h, w, p.radius).to(dev)
        print(f"\n1. per-frame propagation, {seq_name} ({n} frames {W}x{H} -> features {C}x{h}x{w}), crw, fp32, {dev}")
        print(f"   encoder (resnet18, batch 4): {1000 * tm.features_s / n:.1f} ms/frame")
        impls = {"batched": (batched.predict, batched.BatchedWorkspace()), "windowed": (predict, None)}
        bufs = {}
        for name, (_, ws) in impls.items():
            bufs[name] = ContextBuffer(p)
            if ws is not None:
                bufs[name].workspace = ws
            bufs[name].start(feats[0], lab0)
        naive_labels = [lab0]
        times: dict[str, list[float]] = {"naive": [], **{k: [] for k in impls}}
        same: dict[str, list[float]] = {k: [] for k in impls}
        for t in range(1, n):
            sync(dev)
            t0 = time.perf_counter()
            ctx = bench.naive_context(t, p.context)
            sn = bench.naive_step(feats[t], [feats[i] for i in ctx], [naive_labels[i] for i in ctx], mask, p.topk, p.temperature)
            sync(dev)
            times["naive"].append(time.perf_counter() - t0)
            naive_labels.append(sn)
            ref = decode_labels(sn, H, W, H, W, p)
            for name, (fn, _) in impls.items():
                buf = bufs[name]
                sync(dev)
                t0 = time.perf_counter()
                sv = fn(feats[t], buf.frames(), p, workspace=buf.workspace)
                sync(dev)
                times[name].append(time.perf_counter() - t0)
                buf.push(feats[t], sv)
                same[name].append((decode_labels(sv, H, W, H, W, p) == ref).float().mean().item())
    # the first frames include one-off work (plans, allocator warm-up): report the median
    naive_ms = 1000 * statistics.median(times["naive"])
    print(f"   naive full affinity       {naive_ms:9.2f} ms/frame (median over frames 1..{n - 1})")
    for name in impls:
        ms = 1000 * statistics.median(times[name])
        print(
            f"   vosbench {name:9s}        {ms:9.2f} ms/frame -> {naive_ms / ms:6.1f}x the naive speed; identical "
            f"pixels {100 * statistics.mean(same[name]):.4f}% (worst frame {100 * min(same[name]):.4f}%)"
        )


# --- 2./3. whole runs per precision -----------------------------------------------------------------------------


def run_once(cfg, dev: torch.device) -> tuple[object, float, float | None]:
    """``runs.run(cfg)``: (result, wall seconds, peak GPU memory in MB or None)."""
    from vosbench.runs import run

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    res = run(cfg)
    wall = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    return res, wall, peak


def precision_section(title: str, base, precisions: list[str], dev: torch.device, breakdown: bool) -> None:
    print(f"\n{title}")
    jf: dict[str, float] = {}
    for prec in precisions:
        res, wall, peak = run_once(dataclasses.replace(base, precision=prec), dev)
        rec = res.record  # type: ignore[attr-defined]
        m, ti = rec["metrics"], rec["timings"]
        jf[prec] = 100 * m["JF_mean"]
        frames = ti["frames"]
        line = f"   {prec:5s} J&F {jf[prec]:6.2f}"
        if prec != precisions[0]:
            line += f" ({jf[prec] - jf[precisions[0]]:+.2f} vs {precisions[0]})"
        if breakdown:
            line += (
                f"  wall {wall:6.1f} s, {frames / wall:6.1f} frames/s ({frames} frames): decode {ti['decode_s']:.1f} s, "
                f"features {ti['features_s']:.1f} s, propagation {ti['propagation_s']:.1f} s, scoring {ti['evaluation_s']:.1f} worker-s"
            )
            line += f"; peak GPU memory {peak:.0f} MB" if peak is not None else f"; peak RSS {ti['peak_memory_mb']:.0f} MB"
        line += f"  [{rec['environment']['propagation']} path, {rec['environment'].get('host_workers', 0)} host workers]"
        print(line)


# --- 4. GPU vs CPU on one real sequence -------------------------------------------------------------------------


def agreement_section(base, dev: torch.device, tmp: Path) -> None:
    from PIL import Image

    cpu = torch.device("cpu")
    old = os.environ.get("VOSBENCH_PROPAGATION")
    try:
        if dev.type == "cpu":  # no GPU: compare the batched path (what the GPU runs) with the CPU's
            os.environ["VOSBENCH_PROPAGATION"] = "batched"
        a, wall_a, _ = run_once(dataclasses.replace(base, device=str(dev), out=str(tmp / "agree-dev")), dev)
        if dev.type == "cpu":
            os.environ["VOSBENCH_PROPAGATION"] = "windowed"
        b, wall_b, _ = run_once(dataclasses.replace(base, device="cpu", out=str(tmp / "agree-cpu")), cpu)
    finally:
        if old is None:
            os.environ.pop("VOSBENCH_PROPAGATION", None)
        else:
            os.environ["VOSBENCH_PROPAGATION"] = old
    ra, rb = a.record, b.record  # type: ignore[attr-defined]
    da, db = a.run_dir, b.run_dir  # type: ignore[attr-defined]
    pngs = sorted(p.relative_to(da) for p in (da / "predictions").rglob("*.png"))
    same = [np.mean(np.asarray(Image.open(da / p)) == np.asarray(Image.open(db / p))) for p in pngs]
    seqs = ",".join(base.sequences)
    print(f"\n4. {dev} ({ra['environment']['propagation']} path) vs cpu ({rb['environment']['propagation']} path), fp32, {seqs}:")
    print(
        f"   identical predicted pixels {100 * float(np.mean(same)):.4f}% (worst frame {100 * float(np.min(same)):.4f}%); "
        f"J&F {100 * ra['metrics']['JF_mean']:.4f} vs {100 * rb['metrics']['JF_mean']:.4f} "
        f"(difference {100 * (ra['metrics']['JF_mean'] - rb['metrics']['JF_mean']):+.4f}); wall {wall_a:.1f} s vs {wall_b:.1f} s"
    )


# --- main -------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cuda, cuda:N or cpu")
    ap.add_argument("--smoke", action="store_true", help="a tiny configuration of every section (CPU: about a minute)")
    ap.add_argument("--data-root", default=None, help="the real DAVIS-2016 sample (default: shared/data/davis16-val-mini)")
    ap.add_argument("--sequence", default="car-shadow", help="real sequence for sections 1 and 4")
    ap.add_argument("--naive-frames", type=int, default=12, help="frames of the sequence in section 1")
    ap.add_argument("--videos", type=int, default=30)
    ap.add_argument("--frames", type=int, default=67)
    ap.add_argument("--size", default="854x480", help="WxH of the generated videos")
    ap.add_argument("--precisions", default=None, help="comma-separated (default: fp32,tf32,bf16,fp16 on GPU; fp32,bf16 on CPU)")
    ap.add_argument("--workers", type=int, default=0, help="processes generating the videos (default: all CPUs)")
    ap.add_argument("--keep", default=None, help="keep the generated set and the run folders in this folder")
    args = ap.parse_args(argv)

    from vosbench.propagation.engine import use_all_cpu_threads
    from vosbench.runs import RunConfig
    from vosbench.runs.config import resolve_device

    dev = resolve_device(args.device)
    if dev.type == "cpu":
        use_all_cpu_threads()
    if args.smoke:
        args.videos, args.frames, args.size, args.naive_frames = 2, 5, "128x96", 4
    w, h = (int(v) for v in args.size.lower().split("x"))
    precisions = args.precisions.split(",") if args.precisions else (["fp32", "tf32", "bf16", "fp16"] if dev.type == "cuda" else ["fp32", "bf16"])
    workers = args.workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    real = Path(args.data_root) if args.data_root else next((p for p in CANDIDATE_DATA if p.is_dir()), None)
    started = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="vosbench-gpu-") as tmpdir:
        tmp = Path(args.keep) if args.keep else Path(tmpdir)
        tmp.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        gen = generate(tmp / "generated", args.videos, args.frames, (w, h), workers)  # before CUDA starts
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
        print(f"vosbench GPU benchmark: torch {torch.__version__}, device {dev} ({name}), {torch.get_num_threads()} CPU threads")
        print(f"generated {args.videos} videos x {args.frames} frames at {w}x{h} in {time.perf_counter() - t0:.1f} s ({workers} processes)")

        # the real sample, or (smoke, or no real data) the generated set in its place
        if args.smoke or real is None:
            if real is None and not args.smoke:
                print("real DAVIS-2016 sample not found: sections 1, 3 and 4 use the generated set")
            first = (gen / "ImageSets/2017/val.txt").read_text().split()[0]
            real_ds, real_root, real_seq = "davis17-val", gen, first
        else:
            real_ds, real_root, real_seq = "davis16-val", real, args.sequence

        propagation_section(real_ds, real_root, real_seq, args.naive_frames, dev)

        # warm-up (CUDA context, cuDNN plans, allocator) so the first timed run is not charged for it
        warm = RunConfig(
            model="resnet18", dataset="davis17-val", data_root=str(gen), sequences=((gen / "ImageSets/2017/val.txt").read_text().split()[0],),
            out=str(tmp / "warm"), device=str(dev), save_predictions=False,
        )  # fmt: skip
        run_once(warm, dev)
        full = RunConfig(model="resnet18", dataset="davis17-val", data_root=str(gen), out=str(tmp / "runs"), device=str(dev))
        precision_section(
            f"2. vosbench run, resnet18, crw, generated {args.videos} x {args.frames} frames at {w}x{h} (predictions written and scored):",
            full, precisions, dev, breakdown=True,
        )  # fmt: skip
        sample = RunConfig(
            model="resnet18", dataset=real_ds, data_root=str(real_root), out=str(tmp / "sample"), device=str(dev),
            sequences=(real_seq,) if args.smoke else (),
        )  # fmt: skip
        precision_section(f"3. J&F per precision, resnet18, crw, {real_ds} at {real_root}:", sample, precisions, dev, breakdown=False)
        agreement_section(dataclasses.replace(sample, sequences=(real_seq,)), dev, tmp)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
