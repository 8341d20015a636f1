"""The batched propagation path (the GPU path, run here on CPU) equals the naive full-affinity
computation and the windowed CPU path: single frames in every protocol shape, rolling videos with
CRW's padding, shared sweep candidates, half precision, whole runs; and the path choice."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vosbench.core.errors import ConfigError
from vosbench.propagation import batched
from vosbench.propagation.knn import ContextBuffer, ContextFrame, Workspace, mix, predict
from vosbench.propagation.protocol import PRESETS, get_protocol

from tests.support.propagation import naive, rand_frame

REPO = Path(__file__).resolve().parents[1]


def _bench():
    """benchmarks/propagation.py (its naive_step is CRW test.py's computation restated)."""
    spec = importlib.util.spec_from_file_location("bench_propagation", REPO / "benchmarks" / "propagation.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CASES = {
    # name: (h, w, protocol, counts, restricted)
    "crw: first frame unrestricted, padded copies": (17, 23, get_protocol("crw").replace(radius=4.0), [1, 5, 1], [False, True, True]),
    "crw: one frame of 20 copies": (13, 21, get_protocol("crw").replace(radius=12.0), [1, 20], [False, True]),
    "dino: square window on every frame": (15, 26, get_protocol("dino").replace(radius=3.0), [1, 1, 1, 1], [True, True, True, True]),
    "corrflow: window, no top-k": (12, 17, get_protocol("corrflow").replace(radius=2.0), [1], [True]),
    "no top-k, dense and windowed parts": (9, 14, get_protocol("crw").replace(radius=2.5, topk=None, temperature=0.2), [1, 2], [False, True]),
    "unrestricted (radius none)": (8, 11, get_protocol("crw").replace(radius=None, topk=7), [1, 2, 1], [True, True, True]),
    "two unrestricted frames": (10, 9, get_protocol("crw").replace(radius=3.0, topk=6), [1, 1, 2], [False, False, True]),
    "k beyond the window": (7, 9, get_protocol("crw").replace(radius=1.0, window="square", topk=30), [1, 1], [True, True]),
    "wide frame, circle 2.5": (6, 40, get_protocol("crw").replace(radius=2.5, topk=3, temperature=0.07), [2, 1, 1], [True, True, True]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_batched_equals_naive_and_the_windowed_path(case):
    h, w, p, counts, restricted = CASES[case]
    gen = torch.Generator().manual_seed(h * 100 + w)
    C, K = 16, 4
    frames = [rand_frame(C, h, w, K, gen, c, r) for c, r in zip(counts, restricted)]
    q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
    if not p.l2_normalize:  # raw dot products (CorrFlow): features of other norms
        q = q * 3.0
    want = naive(q, frames, p)
    cpu = predict(q, frames, p)
    for block in (4, 8):
        for budget in (None, 0.002):  # one slice; one row of blocks per slice
            got = batched.predict(q, frames, p, block=block, budget_mb=budget)
            assert got.dtype == torch.float32 and got.shape == (K, h, w)
            assert torch.allclose(got, want, atol=1e-5), (block, budget, (got - want).abs().max())
            assert torch.allclose(got, cpu, atol=1e-6), (block, budget, (got - cpu).abs().max())


def test_rolling_video_equals_the_crw_reference():
    """A CRW-preset video (context 6 with padded copies of frame 0, radius not on the first
    frame) through a ContextBuffer with one reused BatchedWorkspace: every frame equals the
    benchmark's naive_step (the CRW test.py computation) and the windowed path."""
    bench = _bench()
    gen = torch.Generator().manual_seed(11)
    C, h, w, K = 12, 14, 19, 3
    p = get_protocol("crw").replace(context=6, radius=3.0, topk=5, temperature=0.07)
    feats = [F.normalize(torch.randn(C, h, w, generator=gen), dim=0) for _ in range(12)]
    lab0 = torch.softmax(torch.randn(K, h, w, generator=gen) * 3, 0)
    mask = bench.radius_mask(h, w, p.radius)
    buf, ref = ContextBuffer(p), ContextBuffer(p)
    buf.workspace = batched.BatchedWorkspace()
    buf.start(feats[0], lab0)
    ref.start(feats[0], lab0)
    nl = [lab0]
    for t in range(1, len(feats)):
        ctx = bench.naive_context(t, p.context)
        want = bench.naive_step(feats[t], [feats[i] for i in ctx], [nl[i] for i in ctx], mask, p.topk, p.temperature)
        got = batched.predict(feats[t], buf.frames(), p, workspace=buf.workspace)
        cpu = predict(feats[t], ref.frames(), p, workspace=ref.workspace)
        assert torch.allclose(got, want, atol=1e-5), (t, (got - want).abs().max())
        assert torch.allclose(got, cpu, atol=1e-6), t
        buf.push(feats[t], got)
        ref.push(feats[t], cpu)
        nl.append(want)
    ws = buf.workspace
    assert isinstance(ws, batched.BatchedWorkspace) and ws.pkeys is not None
    assert ws.pkeys.shape[1] == p.context  # one slot per context frame, reused


def test_workspace_reuse_equals_fresh_calls_through_warm_up():
    gen = torch.Generator().manual_seed(5)
    C, h, w, K = 8, 11, 13, 3
    for p in (get_protocol("crw").replace(context=4, radius=3.0, topk=5), get_protocol("dino").replace(context=3, radius=2.0)):
        buf = ContextBuffer(p)
        buf.workspace = batched.BatchedWorkspace()
        f0 = rand_frame(C, h, w, K, gen)
        buf.start(f0.feats, f0.labels)
        for t in range(1, 9):
            q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
            ctx = buf.frames()
            a = batched.predict(q, ctx, p, workspace=buf.workspace)
            assert torch.equal(a, batched.predict(q, ctx, p)), (p.name, t)
            assert torch.allclose(a, naive(q, ctx, p), atol=1e-5), (p.name, t)
            buf.push(q, a)


def test_shared_candidates_serve_every_topk_and_temperature():
    """What a sweep does: candidates found once for the largest k, mixed per grid point."""
    gen = torch.Generator().manual_seed(8)
    C, h, w, K = 16, 13, 17, 3
    frames = [rand_frame(C, h, w, K, gen, 1, False), rand_frame(C, h, w, K, gen, 4)] + [rand_frame(C, h, w, K, gen) for _ in range(3)]
    q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
    base = get_protocol("crw").replace(radius=3.0)
    cands = batched.candidates(q, frames, base, 12)
    labels = [f.labels for f in frames]
    for k, temp in ((1, 0.05), (5, 0.07), (12, 0.1)):
        p = base.replace(topk=k, temperature=temp)
        got = mix(cands, labels, k, temp)
        assert torch.allclose(got, naive(q, frames, p), atol=1e-5), (k, temp)
        assert torch.allclose(got, predict(q, frames, p), atol=1e-6), (k, temp)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_features_are_matched_in_float32(dtype):
    """Half precision features are only rounded for storage: both paths equal the float64
    reference computed on the rounded features (products, top-k and softmax not in half)."""
    gen = torch.Generator().manual_seed(3)
    C, h, w, K = 32, 15, 18, 3
    frames = [rand_frame(C, h, w, K, gen, 1, False)] + [rand_frame(C, h, w, K, gen, c) for c in (3, 1, 1)]
    q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
    half = [ContextFrame(f.feats.to(dtype), f.labels, f.count, f.restricted) for f in frames]
    rounded = [ContextFrame(f.feats.float(), f.labels, f.count, f.restricted) for f in half]
    qh = q.to(dtype)
    for p in (get_protocol("crw").replace(radius=4.0), get_protocol("dino").replace(radius=3.0), get_protocol("corrflow").replace(radius=2.0)):
        want = naive(qh.float(), rounded, p)
        for fn in (predict, batched.predict):
            got = fn(qh, half, p)
            assert got.dtype == torch.float32
            assert torch.allclose(got, want, atol=1e-5), (fn.__module__, p.name, (got - want).abs().max())


def test_path_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    env = os.environ.pop(batched.PATH_ENV, None)
    try:
        assert batched.propagation_path(cpu) == "windowed"
        assert batched.propagation_path(cuda) == "batched"
        assert batched.propagation_path(cpu, "batched") == "batched"
        assert batched.propagation_path(cuda, "windowed") == "windowed"
        os.environ[batched.PATH_ENV] = "batched"
        assert batched.propagation_path(cpu) == "batched"
        os.environ[batched.PATH_ENV] = "fast"
        with pytest.raises(ConfigError, match="VOSBENCH_PROPAGATION"):
            batched.propagation_path(cpu)
    finally:
        os.environ.pop(batched.PATH_ENV, None)
        if env is not None:
            os.environ[batched.PATH_ENV] = env


@pytest.fixture(scope="module")
def small_davis(tmp_path_factory):
    from vosbench.datasets.synthetic.layouts import generate_davis

    return generate_davis(tmp_path_factory.mktemp("small-davis"), videos=1, frames=6, size=(120, 88), seed=5)


def test_propagate_many_batched_equals_windowed_for_every_preset(small_davis):
    """Whole videos (features from a real encoder, feedback of each path's own predictions):
    crw (padding with frame 0), dino (radius on the first frame), corrflow (window, no top-k)
    and a sweep group sharing candidates give the same id maps on both paths."""
    from vosbench.datasets.factory import load_dataset
    from vosbench.models.factory import create_model
    from vosbench.propagation.engine import Timings, propagate_many

    ds = load_dataset("davis17-val", str(small_davis))
    seq = ds.sequence(ds.select([])[0])
    model = create_model("resnet18").eval()
    cpu = torch.device("cpu")
    crw = PRESETS["crw"].replace(radius=4.0, context=3)
    groups = [
        [crw, crw.replace(topk=3, temperature=0.1)],  # shared candidates
        [PRESETS["dino"].replace(radius=3.0, resize="native", label_downsample="bilinear")],
        [PRESETS["corrflow"].replace(resize="native")],
    ]
    for protocols in groups:
        runs = {
            path: list(propagate_many(seq, model, protocols, cpu, [Timings() for _ in protocols], path=path))
            for path in ("windowed", "batched")
        }
        assert len(runs["batched"]) == len(seq)
        for (t, a), (_, b) in zip(runs["windowed"], runs["batched"]):
            for i, (x, y) in enumerate(zip(a, b)):
                assert np.array_equal(x, y), (protocols[i].name, t, np.mean(x != y))


def test_run_records_the_path_and_env_forces_it(small_davis, tmp_path, monkeypatch):
    from vosbench.runs import RunConfig, run

    cfg = RunConfig(model="resnet18", dataset="davis17-val", data_root=str(small_davis), out=str(tmp_path), device="cpu")
    monkeypatch.delenv(batched.PATH_ENV, raising=False)
    a = run(cfg)
    monkeypatch.setenv(batched.PATH_ENV, "batched")
    b = run(cfg)
    assert a.record["environment"]["propagation"] == "windowed"
    assert b.record["environment"]["propagation"] == "batched"
    assert a.record["environment"]["tf32"] == b.record["environment"]["tf32"]
    assert a.record["metrics"] == b.record["metrics"]
    pngs = sorted(p.relative_to(a.run_dir) for p in (a.run_dir / "predictions").rglob("*.png"))
    assert pngs and all((a.run_dir / p).read_bytes() == (b.run_dir / p).read_bytes() for p in pngs)


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys, torch, torch.nn.functional as F
    from vosbench.propagation import batched
    from vosbench.propagation.knn import ContextBuffer
    from vosbench.propagation.protocol import get_protocol

    def hwm_kb():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))

    torch.set_num_threads(1)
    C, h, w, K = 256, 60, 107, 2  # a 854x480 frame at stride 8, ResNet-18 res4
    p = get_protocol("crw")
    g = torch.Generator().manual_seed(0)
    feats = [F.normalize(torch.randn(C, h, w, generator=g), dim=0) for _ in range(p.context + 2)]
    lab = torch.softmax(torch.randn(K, h, w, generator=g), 0)
    buf = ContextBuffer(p)
    buf.workspace = batched.BatchedWorkspace()
    buf.start(feats[0], lab)
    for f in feats[1 : p.context + 1]:  # the full context: frame 0 + 20 distinct frames
        buf.push(f, lab)
    ctx = buf.frames()
    assert len(ctx) == 21 and sum(c.restricted for c in ctx) == 20
    buf.workspace.load_padded([c for c in ctx if c.restricted],
        batched._plan(h, w, 12.0, "circle", 8, torch.device("cpu")), p.context, labels=False)
    base = hwm_kb()
    out = batched.predict(feats[-1], ctx, p, workspace=buf.workspace)
    assert out.shape == (K, h, w) and torch.isfinite(out).all()
    print(hwm_kb() - base)
    """
)


def test_slices_fit_the_budget_and_cover_every_block():
    plan = batched._plan(60, 107, 12.0, "circle", 8, torch.device("cpu"))
    per_block = plan.side**2 * 20 * (256 + 2 * 64)  # gathered windows + two score buffers
    budget = batched._budget_elems(None)
    slices = batched._slices(plan, per_block, budget)
    assert [b for s in slices for b in range(*s)] == list(range(plan.nby * plan.nbx)) == list(range(112))
    assert all((b1 - b0) * per_block <= budget for b0, b1 in slices) and len(slices) == 6
    assert batched._slices(plan, per_block, 1) == [(b, b + 1) for b in range(112)]  # at least a block


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM (Linux)")
def test_memory_of_a_480p_frame_with_21_context_frames_is_bounded():
    """One 480p frame against frame 0 + 20 windowed frames: the working memory beyond the stored
    context stays under 1.5 GB (default budget: 512 MB of gathered windows and scores per slice),
    where all blocks at once would take 3.1 GB."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    extra_mb = int(out.stdout.split()[-1]) / 1024
    print(f"working memory of one 480p frame, 21 context frames: {extra_mb:.0f} MB")
    assert extra_mb < 1536, extra_mb


# --- GPU -----------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_batched_equals_cpu_paths_and_never_waits():
    gen = torch.Generator().manual_seed(2)
    C, h, w, K = 64, 60, 107, 3
    dev = torch.device("cuda")
    for p in (get_protocol("crw"), get_protocol("dino"), get_protocol("corrflow")):
        frames = [rand_frame(C, h, w, K, gen, 1, not (p.first_frame and not p.radius_on_first))]
        frames += [rand_frame(C, h, w, K, gen, c) for c in (5, 1, 1)][: max(1, min(3, p.context))]
        q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
        ref = predict(q, frames, p)
        on = [ContextFrame(f.feats.to(dev), f.labels.to(dev), f.count, f.restricted) for f in frames]
        ws = batched.BatchedWorkspace()
        got = batched.predict(q.to(dev), on, p, workspace=ws)  # builds and caches the plan
        assert got.device.type == "cuda"
        assert torch.allclose(got.cpu(), ref, atol=1e-4), p.name
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            batched.predict(q.to(dev), on, p, workspace=ws)
        finally:
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_run_uses_the_batched_path_in_true_fp32(small_davis, tmp_path):
    from vosbench.runs import RunConfig, run

    cfg = RunConfig(model="resnet18", dataset="davis17-val", data_root=str(small_davis), out=str(tmp_path))
    cpu = run(dataclasses.replace(cfg, device="cpu"))
    gpu = run(dataclasses.replace(cfg, device="cuda"))
    tf32 = run(dataclasses.replace(cfg, device="cuda", precision="tf32"))
    assert gpu.record["environment"]["propagation"] == "batched"
    assert set(gpu.record["environment"]["tf32"].values()) <= {"ieee", False}
    assert tf32.record["precision"] == "tf32" and set(tf32.record["environment"]["tf32"].values()) <= {"tf32", True}
    pngs = sorted(p.relative_to(cpu.run_dir) for p in (cpu.run_dir / "predictions").rglob("*.png"))
    from PIL import Image

    same = np.mean([np.mean(np.asarray(Image.open(cpu.run_dir / p)) == np.asarray(Image.open(gpu.run_dir / p))) for p in pngs])
    assert same > 0.9999, same


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_memory_of_a_480p_frame_stays_under_4_gb():
    dev = torch.device("cuda")
    C, h, w, K = 256, 60, 107, 2
    p = get_protocol("crw")
    g = torch.Generator(device=dev).manual_seed(0)
    ctx = [ContextFrame(F.normalize(torch.randn(C, h, w, generator=g, device=dev), dim=0), torch.rand(K, h, w, device=dev), 1, False)]
    ctx += [ContextFrame(F.normalize(torch.randn(C, h, w, generator=g, device=dev), dim=0), torch.rand(K, h, w, device=dev)) for _ in range(20)]
    q = F.normalize(torch.randn(C, h, w, generator=g, device=dev), dim=0)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    batched.predict(q, ctx, p, workspace=batched.BatchedWorkspace())
    torch.cuda.synchronize()
    assert torch.cuda.max_memory_allocated() < 4 * 2**30


def test_workspace_is_a_workspace():
    """ContextBuffer and the engine hold either kind; the batched path ignores a plain one."""
    gen = torch.Generator().manual_seed(1)
    frames = [rand_frame(8, 9, 10, 2, gen) for _ in range(2)]
    q = frames[1].feats
    p = get_protocol("crw").replace(radius=2.0)
    assert isinstance(batched.BatchedWorkspace(), Workspace)
    assert torch.equal(batched.predict(q, frames, p, workspace=Workspace()), batched.predict(q, frames, p))
