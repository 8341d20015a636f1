"""MAST (zlai0/MAST @a57b043): the checkpoint layout ``main.py`` saves and ``benchmark.py`` loads,
the Lab encoder, and the ``mast`` preset against a restatement of ``benchmark.py`` + ``colorizer.py``.

Encoder (``DavisLoaderLab.py`` + ``models/mast.py``): ``cv2.cvtColor(bgr / 255, COLOR_BGR2Lab)`` in
float, normalised with mean (50, 0, 0) and std (50, 127, 127), then CorrFlow's trunk and
post-convolution (the same network; its restatement is reused from ``test_models_corrflow``).

Loop (``benchmark.py:test`` with ``--ref 0``, ``colorizer.py:forward`` for references at most 15
frames back): references ``[0, 5] (<= i)`` and ``range(i, i - 6, -2) (> 0)``, sorted, unique; per
reference the correlation of raw features over a 25x25 window with zero padding (the correlation
sampler) and ``F.unfold`` of the one-hot labels sampled ``[::4, ::4]`` with zero padding; one
softmax over all references' windows; the soft map bilinearly up-sampled to the frame, arg-max,
fed back as the reference's label map.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import vosbench
from tests.test_models_corrflow import official_state_dict, reference_features, save_official
from tests.support.cli import invoke
from tests.test_models_dinov2 import one_line_error
from tests.test_models_vfs import small_sequence
from vosbench.core.errors import CheckpointError
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.baselines import rgb_to_lab
from vosbench.propagation.context import mast_references
from vosbench.core.errors import ConfigError
from vosbench.propagation import batched
from vosbench.propagation.context import ContextFrame
from vosbench.propagation.engine import Timings, propagate_many
from vosbench.propagation.knn import predict
from vosbench.propagation.protocol import PRESETS, Protocol


def mast_file(path, seed: int = 0) -> dict:
    """MAST's main.py file: {'epoch', 'state_dict': model.module.state_dict(), 'optimizer'}."""
    sd = official_state_dict(seed=seed)
    save_official(path, {k[len("module.") :]: v for k, v in sd.items()})
    return sd


def opencv_lab(x: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB in [0, 1] -> MAST's normalised Lab, as DavisLoaderLab.py computes it."""
    bgr = x[0].permute(1, 2, 0).numpy()[:, :, ::-1].astype(np.float32)
    lab = torch.from_numpy(cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2Lab)).permute(2, 0, 1)[None]
    return (lab - torch.tensor([50.0, 0, 0]).view(1, 3, 1, 1)) / torch.tensor([50.0, 127, 127]).view(1, 3, 1, 1)


def normalised_lab(x: torch.Tensor) -> torch.Tensor:
    return (rgb_to_lab(x) - torch.tensor([50.0, 0, 0]).view(1, 3, 1, 1)) / torch.tensor([50.0, 127, 127]).view(1, 3, 1, 1)


def test_lab_matches_opencvs_float_conversion():
    """OpenCV 5.1's float BGR2Lab interpolates from tables (its outputs are quantised, e.g. L 8.990 for
    grey 0.1 where the formula gives 9.010): on 10,000 random colours it differs from the exact formula
    by at most 0.19 L and 0.31 a/b units (0.0040 after MAST's normalisation)."""
    x = torch.rand(1, 3, 100, 100, generator=torch.Generator().manual_seed(0))
    assert (normalised_lab(x) - opencv_lab(x)).abs().max().item() < 5e-3


def test_checkpoint_loads_and_encoder_matches_reference(tmp_path):
    sd = mast_file(tmp_path / "mast.pt", seed=5)
    model = vosbench.create_model("mast", checkpoint=tmp_path / "mast.pt")
    x = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        got = model(x)
        want = reference_features(normalised_lab(x), sd)  # the conversion is checked against OpenCV above
    assert got.shape == (1, 64, 13, 18) == want.shape
    assert (got - want).abs().max().item() <= 1e-5 * want.abs().max().item()
    assert want.abs().mean() > 0.05


def test_corrflow_and_other_files_are_refused_in_one_line(tmp_path):
    save_official(tmp_path / "corrflow.pth", official_state_dict())  # module.feature_extraction.*
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    for name, needle in (("corrflow.pth", "a CorrFlow checkpoint (--model corrflow)"), ("other.pth", "keys conv1.weight")):
        with pytest.raises(CheckpointError) as e:
            vosbench.create_model("mast", checkpoint=tmp_path / name)
        assert "\n" not in str(e.value) and "is not a MAST checkpoint" in str(e.value) and needle in str(e.value)


def test_run_refuses_a_corrflow_file_and_runs_the_official_layout(tmp_path, tiny_davis17):
    save_official(tmp_path / "corrflow.pth", official_state_dict())
    base = ("run", "--model", "mast", "--dataset", "davis17-val", "--data-root", tiny_davis17, "--sequences", "seq0", "--device", "cpu",
            "--protocol", "native", "--out", tmp_path / "r", "--checkpoint")
    line = one_line_error(invoke(*base, tmp_path / "corrflow.pth"))
    assert "is not a MAST checkpoint" in line and "CorrFlow" in line
    mast_file(tmp_path / "mast.pt")
    r = invoke(*base, tmp_path / "mast.pt")
    assert r.exit_code == 0, r.output
    assert "mast v1" in r.output


@pytest.mark.parametrize(
    "t, refs",
    [(1, [0]), (2, [0, 1]), (3, [0, 2]), (4, [0, 1, 3]), (6, [0, 1, 3, 5]), (7, [0, 2, 4, 5, 6]), (11, [0, 5, 6, 8, 10])],
)
def test_references_are_benchmark_pys(t, refs):
    i = t - 1  # benchmark.py predicts frame i + 1
    official = sorted(set([x for x in [0, 5] if x <= i] + [x for x in range(i, i - 2 * 3, -2) if x > 0][::-1]))
    assert mast_references(t) == official == refs


def test_preset_settings_and_border_rule():
    p = PRESETS["mast"]
    assert (p.resize, p.context, p.references, p.radius, p.window, p.topk, p.temperature) == (
        "native", 3, "mast", 12.0, "square", None, 1.0)
    assert p.radius_on_first and not p.l2_normalize and p.feedback == "hard" and p.label_downsample == "subsample"
    assert p.border == "zeros"
    with pytest.raises(ConfigError, match="border"):
        Protocol(border="zeros")  # circle window, top-10: no softmax over a zero-padded square


class Stride4Encoder(Encoder):
    """A seeded 4x4 stride-4 convolution (16 channels), scaled so that the softmax of raw dot
    products is neither flat nor one-hot."""

    def __init__(self):
        super().__init__(ModelSpec(name="patch4", description="test", factory="-", stride=4, channels=16))
        torch.manual_seed(7)
        self.conv = torch.nn.Conv2d(3, 16, 4, stride=4)
        with torch.no_grad():
            self.conv.weight.mul_(0.6)

    def forward_features(self, x):
        return self.conv(x)


def mast_pipeline(encoder, frames: list[torch.Tensor], seg0: np.ndarray, classes: int = 7) -> list[np.ndarray]:
    """benchmark.py's loop with colorizer.py's near-reference path, written out naively."""
    with torch.inference_mode():
        feats = [encoder(x[None])[0] for x in frames]
    _, h, w = feats[0].shape
    H, W = seg0.shape
    outputs = [torch.from_numpy(seg0).long()]
    for i in range(len(frames) - 1):
        ref_index = sorted(set([x for x in [0, 5] if x <= i] + [x for x in range(i, i - 6, -2) if x > 0][::-1]))
        ft = feats[i + 1]
        corrs, cols = [], []
        for r in ref_index:
            # the sampler's 25x25 patch of displacements, zeros beyond the frame
            window = F.unfold(feats[r][None], kernel_size=25, padding=12).reshape(-1, 625, h, w)
            corrs.append((ft[:, None] * window).sum(0))
            onehot = F.one_hot(outputs[r][::4, ::4], classes).permute(2, 0, 1).float()
            cols.append(F.unfold(onehot[None], kernel_size=25, padding=12).reshape(classes, 625, h, w))
        corr = torch.softmax(torch.cat(corrs, 0), dim=0)
        out = (corr[None] * torch.cat(cols, 1)).sum(1)
        up = F.interpolate(out[None], (H, W), mode="bilinear", align_corners=False)[0]
        outputs.append(up.argmax(0))
    return [o.numpy().astype(np.uint8) for o in outputs[1:]]


@pytest.mark.parametrize("predict_fn", [predict, batched.predict])
def test_zero_padded_window_softmax_equals_the_correlation_sampler(predict_fn):
    """Soft labels of one target from three references under ``mast``: the 25x25 zero-padded
    correlation and unfold of colorizer.py, one softmax; and ``border=drop`` differs."""
    g = torch.Generator().manual_seed(4)
    h, w, C, K = 14, 30, 8, 3
    ft = torch.randn(C, h, w, generator=g) * 0.5
    refs = [torch.randn(C, h, w, generator=g) * 0.5 for _ in range(3)]
    labels = [F.one_hot(torch.randint(0, K, (h, w), generator=g), K).permute(2, 0, 1).float() for _ in range(3)]
    corr = torch.cat([torch.stack([(ft * F.pad(r, (12,) * 4)[:, dy : dy + h, dx : dx + w]).sum(0)
                                   for dy in range(25) for dx in range(25)]) for r in refs])
    cols = torch.cat([F.unfold(lab[None], 25, padding=12).reshape(K, 625, h, w) for lab in labels], 1)
    want = (torch.softmax(corr, 0)[None] * cols).sum(1)
    context = [ContextFrame(r, lab) for r, lab in zip(refs, labels)]
    got = predict_fn(ft, context, PRESETS["mast"])
    assert torch.allclose(got, want, atol=1e-5)
    dropped = predict_fn(ft, context, PRESETS["mast"].replace(border="drop"))
    assert (dropped - want).abs().max() > 1e-2


@pytest.fixture(scope="module")
def car_shadow(davis16_mini, tmp_path_factory):
    """8 real frames at 112x48 (a 28x12 grid: the 25x25 window meets the border everywhere in y;
    frame 5 joins the references from frame 6 on), and benchmark.py's predictions."""
    seq, paths, seg0 = small_sequence(davis16_mini, tmp_path_factory.mktemp("mast"), "car-shadow", 8, (112, 48))
    frames = [torch.from_numpy(np.asarray(cv2.imread(str(p))[:, :, ::-1]).copy()).permute(2, 0, 1).float() / 255
              for p in paths]
    return seq, mast_pipeline(Stride4Encoder().eval(), frames, seg0.astype(np.uint8))


@pytest.mark.parametrize("path", ["windowed", "batched"])
def test_mast_preset_equals_benchmark_loop(car_shadow, path):
    seq, ref = car_shadow
    encoder = Stride4Encoder().eval()
    ours = {t: o[0] for t, o in propagate_many(seq, encoder, [PRESETS["mast"]], torch.device("cpu"), [Timings()], path=path)}
    same = sum(int((ours[t] == ref[t - 1]).sum()) for t in range(1, len(ref) + 1))
    assert same == sum(r.size for r in ref)
