"""Performance machinery: exact fast top-k, the reusable workspace, half precision, protocol
sweeps (equal to separate runs), feature caching, memory flat with video length, GPU path."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vosbench.core.errors import ConfigError
from vosbench.propagation.knn import ContextBuffer, ContextFrame, Workspace, predict
from vosbench.propagation.mixing import top_columns as _top_columns
from vosbench.propagation.protocol import get_protocol

from tests.support.propagation import naive, rand_frame


def test_top_columns_equals_topk():
    gen = torch.Generator().manual_seed(0)
    for n, m, k in ((7, 1000, 10), (3, 1003, 5), (5, 6420, 10), (4, 50, 10), (2, 700, 1)):
        s = torch.randn(n, m, generator=gen)
        v, i = _top_columns(s, k)
        rv, _ = torch.topk(s, k, dim=1)
        assert torch.equal(v, rv)
        assert torch.equal(torch.gather(s, 1, i), v)  # indices point at the values


@pytest.mark.parametrize(
    "h,w,radius,window,topk,counts,restricted",
    [
        (26, 31, 5.0, "circle", 10, [1, 3, 1, 1], [False, True, True, True]),  # chunked dense top-k
        (27, 29, 3.5, "square", 4, [1, 1, 2], [True, False, True]),
        (19, 33, 4.0, "circle", None, [1, 2, 1], [False, True, True]),  # softmax over all, two parts
        (24, 24, 2.0, "circle", 10, [1, 1], [True, True]),  # window (9 cells x 2 frames) > k
        (9, 7, 1.0, "square", 30, [1, 1], [True, True]),  # k > window size: padded candidate lists
    ],
)
def test_predict_equals_naive_on_larger_frames(h, w, radius, window, topk, counts, restricted):
    gen = torch.Generator().manual_seed(h * w)
    frames = [rand_frame(12, h, w, 3, gen, c, r) for c, r in zip(counts, restricted)]
    q = F.normalize(torch.randn(12, h, w, generator=gen), dim=0)
    p = get_protocol("crw").replace(radius=radius, window=window, topk=topk, temperature=0.1)
    want = naive(q, frames, p).float()
    for block in (5, 8):
        got = predict(q, frames, p, block=block)
        assert got.dtype == torch.float32
        assert torch.allclose(got, want, atol=1e-5), (block, (got - want).abs().max())


def test_workspace_reuse_over_a_rolling_context_equals_fresh_calls():
    """One workspace across a video (frames enter and leave) gives exactly what a
    fresh workspace per frame gives, through warm-up (padding counts) and the full context."""
    gen = torch.Generator().manual_seed(5)
    C, h, w, K = 8, 11, 13, 3
    p = get_protocol("crw").replace(context=4, radius=3.0, topk=5)
    buf = ContextBuffer(p)
    f0 = rand_frame(C, h, w, K, gen)
    buf.start(f0.feats, f0.labels)
    for t in range(1, 10):
        q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
        ctx = buf.frames()
        a = predict(q, ctx, p, workspace=buf.workspace)
        b = predict(q, ctx, p)
        assert torch.equal(a, b), t
        assert torch.allclose(a, naive(q, ctx, p).float(), atol=1e-5)
        buf.push(q, a)
    assert buf.workspace.keys is not None and buf.workspace.keys.shape[-1] == 4  # context slots only


def test_bf16_on_cpu_is_close_to_fp32():
    gen = torch.Generator().manual_seed(1)
    C, h, w, K = 32, 20, 24, 3
    frames = [rand_frame(C, h, w, K, gen, 1, False)] + [rand_frame(C, h, w, K, gen) for _ in range(4)]
    q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
    p = get_protocol("crw").replace(radius=5.0)
    ref = predict(q, frames, p)
    half = [ContextFrame(f.feats.bfloat16(), f.labels, f.count, f.restricted) for f in frames]
    out = predict(q.bfloat16(), half, p)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out.argmax(0) == ref.argmax(0)).float().mean() > 0.95


def test_precision_choices():
    from vosbench.propagation.engine import precision_dtype

    assert precision_dtype("fp32", torch.device("cpu")) == torch.float32
    assert precision_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ConfigError, match="needs a GPU"):
        precision_dtype("fp16", torch.device("cpu"))
    with pytest.raises(ConfigError, match="expected one of"):
        precision_dtype("fp8", torch.device("cpu"))


# --- sweeps ------------------------------------------------------------------------------------


def test_parse_sweep_syntax_and_refusals():
    from vosbench.propagation.sweep import grid, parse_sweep

    sw = parse_sweep(["topk=5,10,20 temperature=0.05,0.07", "radius=none,8"])
    assert sw == (("topk", ("5", "10", "20")), ("temperature", ("0.05", "0.07")), ("radius", ("none", "8")))
    assert len(grid(sw)) == 12 and grid(sw)[0] == {"topk": "5", "temperature": "0.05", "radius": "none"}
    for bad, msg in (
        ("resize=native,square", "changes the features"),
        ("l2_normalize=true,false", "changes the features"),
        ("size=320,480", "changes the features"),
        ("topk", "expected KEY=V1,V2"),
        ("topk=5 topk=10", "given twice"),
        ("topk=five", "cannot parse"),
        ("name=a,b", "unknown protocol setting"),
        ("topk=5,5", "repeated value"),
    ):
        with pytest.raises(ConfigError, match=msg):
            parse_sweep([bad])


@pytest.fixture(scope="module")
def tiny_davis(tmp_path_factory):
    from vosbench.datasets.synthetic.layouts import generate_davis

    return generate_davis(tmp_path_factory.mktemp("tiny-davis"), videos=2, frames=7, size=(96, 64), seed=3)


def _pngs(run_dir):
    return {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in sorted((run_dir / "predictions").rglob("*.png"))}


def test_sweep_equals_separate_runs(tiny_davis, tmp_path):
    """Grid points sharing one similarity search (equal radius) or not, soft and hard feedback:
    each equals its own separate run, predictions byte for byte."""
    from click.testing import CliRunner

    from vosbench.cli.main import cli
    from vosbench.runs import RunConfig, run

    out = tmp_path / "runs"
    res = CliRunner().invoke(
        cli,
        ["run", "--model", "resnet18", "--dataset", "davis17-val", "--data-root", str(tiny_davis), "--out", str(out),
         "--sequences", "occlusion-0", "--temperature", "0.07", "--sweep", "topk=3,10 radius=2,3", "--sweep", "feedback=soft,hard"],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "sweep:" in res.output  # the comparison table
    runs = sorted((out / "davis17-val" / "resnet18").iterdir())
    assert len(runs) == 8
    recs = {}
    for r in runs:
        rec = json.loads((r / "summary.json").read_text())
        assert rec["status"] == "complete" and rec["precision"] == "fp32"
        assert rec["sweep"]["size"] == 8
        assert rec["sweep"]["settings"] == {"topk": ["3", "10"], "radius": ["2", "3"], "feedback": ["soft", "hard"]}
        p = rec["protocol"]
        assert p["temperature"] == 0.07
        recs[(p["topk"], p["radius"], p["feedback"])] = (r, rec)
    assert len(recs) == 8 and len({rec["sweep"]["id"] for _, rec in recs.values()}) == 1
    for topk, radius, feedback in ((3, 2.0, "soft"), (10, 2.0, "hard"), (10, 3.0, "soft"), (3, 3.0, "hard")):
        r, rec = recs[(topk, radius, feedback)]
        single = run(
            RunConfig(
                model="resnet18", dataset="davis17-val", data_root=str(tiny_davis), out=str(tmp_path / "single"),
                sequences=("occlusion-0",), overrides={"temperature": "0.07", "radius": str(radius), "topk": str(topk), "feedback": feedback},
            )
        )  # fmt: skip
        assert single.record["protocol"] == rec["protocol"]
        assert single.record["metrics"] == rec["metrics"]
        assert _pngs(single.run_dir) == _pngs(r)
        assert (single.run_dir / "per_object.csv").read_text() == (r / "per_object.csv").read_text()


def test_propagate_many_equals_propagate_vos_per_protocol(tiny_davis):
    from vosbench.propagation.engine import Timings, propagate_many, propagate_vos
    from vosbench.datasets.factory import load_dataset
    from vosbench.models.factory import create_model

    seq = load_dataset("davis17-val", str(tiny_davis)).sequence("occlusion-0")
    model = create_model("resnet18")
    base = get_protocol("crw").replace(radius=3.0)
    protocols = [base.replace(topk=2), base.replace(topk=7, temperature=0.2), base.replace(topk=None),
                 base.replace(topk=5, norm_mask=True, label_downsample="nearest")]  # fmt: skip
    cpu = torch.device("cpu")
    many = list(propagate_many(seq, model, protocols, cpu, [Timings() for _ in protocols]))
    for i, p in enumerate(protocols):
        alone = list(propagate_vos(seq, model, p, cpu, Timings()))
        assert [t for t, _ in alone] == [t for t, _ in many]
        for (_, a), (_, outs) in zip(alone, many):
            assert np.array_equal(a, outs[i]), i
    with pytest.raises(ConfigError, match="share resize"):
        next(propagate_many(seq, model, [base, base.replace(l2_normalize=False)], cpu, [Timings(), Timings()]))


def test_sweep_refuses_feature_settings_on_the_command_line(tiny_davis, tmp_path):
    from click.testing import CliRunner

    from vosbench.cli.main import cli

    res = CliRunner().invoke(
        cli, ["run", "--model", "lab", "--dataset", "davis17-val", "--data-root", str(tiny_davis),
              "--out", str(tmp_path), "--sweep", "resize=native,square"],
    )  # fmt: skip
    assert res.exit_code == 2 and "changes the features" in res.output
    assert not (tmp_path / "davis17-val").exists()


# --- memory --------------------------------------------------------------------------------------

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, torch
    from vosbench.datasets.base import VideoSequence
    from vosbench.propagation.engine import Timings, propagate_vos
    from vosbench.propagation.protocol import get_protocol

    T, H, W = int(sys.argv[1]), 80, 120

    class Video(VideoSequence):  # generated in memory: a textured square drifting over noise
        def read_image(self, i):
            rng = np.random.default_rng(i)
            img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
            img[25:55, 20 + i % 50 : 45 + i % 50] = 200
            return img

        def read_annotation(self, i):
            lab = np.zeros((H, W), np.uint8)
            lab[25:55, 20:45] = 1
            return lab

    class Encoder(torch.nn.Module):  # stride 8, 1536 channels: 10x15 cells, 0.9 MB per frame
        stride = 8
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 1536, 8, stride=8)
        def forward(self, x):
            return self.conv(x)

    seq = Video("v", [f"{i:05d}" for i in range(T)], [None] * T, annotations={0: None})
    model = Encoder().eval()
    n = 0
    for t, ids in propagate_vos(seq, model, get_protocol("crw"), torch.device("cpu"), Timings()):
        n += 1
    assert n == T
    # VmHWM: unlike ru_maxrss it does not include the parent's memory at the fork
    print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM (Linux)")
def test_peak_memory_flat_with_video_length():
    """A 200-frame video peaks within 10% of a 50-frame one. Keeping the features of every frame
    would add 150 x 0.9 MB = 138 MB, about 20% of the ~650 MB a torch process starts with.
    The two processes run at once (one thread each; a peak is per process)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(frames)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        for frames in (50, 200)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    short, long = (int(out.split()[-1]) for out, _ in outs)
    assert long <= 1.10 * short, (short, long)


# --- GPU -----------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_predict_matches_cpu_and_half_precision_is_close():
    gen = torch.Generator().manual_seed(2)
    C, h, w, K = 64, 60, 107, 3
    frames = [rand_frame(C, h, w, K, gen, 1, False), rand_frame(C, h, w, K, gen, 17, True)]
    frames += [rand_frame(C, h, w, K, gen) for _ in range(3)]
    q = F.normalize(torch.randn(C, h, w, generator=gen), dim=0)
    p = get_protocol("crw")
    ref = predict(q, frames, p)
    dev = torch.device("cuda")
    on = [ContextFrame(f.feats.to(dev), f.labels.to(dev), f.count, f.restricted) for f in frames]
    ws = Workspace()
    got = predict(q.to(dev), on, p, workspace=ws)
    assert got.device.type == "cuda"
    assert torch.allclose(got.cpu(), ref, atol=1e-4)
    for dt in (torch.float16, torch.bfloat16):
        half = [ContextFrame(f.feats.to(dt), f.labels, f.count, f.restricted) for f in on]
        out = predict(q.to(dev, dt), half, p)
        assert out.dtype == torch.float32
        assert (out.argmax(0).cpu() == ref.argmax(0)).float().mean() > 0.97


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_run_equals_cpu_run(tiny_davis, tmp_path):
    from vosbench.runs import RunConfig, run

    cfg = RunConfig(model="resnet18", dataset="davis17-val", data_root=str(tiny_davis), out=str(tmp_path))
    cpu = run(dataclasses.replace(cfg, device="cpu"))
    gpu = run(dataclasses.replace(cfg, device="cuda"))
    fp16 = run(dataclasses.replace(cfg, device="cuda", precision="fp16"))
    assert fp16.record["precision"] == "fp16"
    from PIL import Image

    def maps(r):
        return {k: np.asarray(Image.open(r.run_dir / k)) for k in _pngs(r.run_dir)}

    a, b = maps(cpu), maps(gpu)
    assert a.keys() == b.keys()
    same = np.mean([np.mean(a[k] == b[k]) for k in a])
    assert same > 0.999, same
    assert abs(cpu.record["metrics"]["JF_mean"] - fp16.record["metrics"]["JF_mean"]) < 0.03


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_predict_never_waits_for_the_device():
    """Per frame, propagation queues work only: no operation makes the host wait for the GPU
    (torch's sync debug mode raises on any), so the only round trip is the caller's output copy."""
    gen = torch.Generator().manual_seed(4)
    dev = torch.device("cuda")
    C, h, w, K = 32, 30, 40, 3
    p = get_protocol("crw").replace(context=4)
    feats = [rand_frame(C, h, w, K, gen) for _ in range(8)]
    feats = [(f.feats.to(dev), f.labels.to(dev)) for f in feats]
    buf = ContextBuffer(p)
    buf.start(*feats[0])
    predict(feats[1][0], buf.frames(), p, workspace=buf.workspace)  # builds the cached plan
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for q, _ in feats[1:]:
            buf.push(q, predict(q, buf.frames(), p, workspace=buf.workspace))
    finally:
        torch.cuda.set_sync_debug_mode("default")
