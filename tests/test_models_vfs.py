"""VFS (xvjiarui/VFS): the released and the training checkpoint layouts load strictly, the encoder
equals a functional ResNet read at layer3 with strides (1, 2, 1), and the ``vfs`` preset equals a
restatement of VFS's test loop.

The restatement of the test loop follows ``VanillaTracker.forward_test`` and
``masked_attention_efficient`` (VFS @8e055cc): first-frame labels resized with PIL nearest to the
feature grid and one-hot over ``max id + 1`` channels; for frame t the keys are frame 0 and frames
max(0, t - 20) .. t - 1 (frame 0 twice while t <= 20) with their soft labels; the circle mask
(distance < 24 // 2) on every key frame; joint top-10 of the cosine / 0.07 scores, softmax over
them; the soft result fed back; output bilinear to the frame size, per-channel min-max where the
maximum is positive, arg-max.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from PIL import Image
from tests.resnet_reference import reference_layer3, torchvision_state_dict

import vosbench
from vosbench.cli.main import cli
from vosbench.core.errors import CheckpointError
from vosbench.core.specs import ModelSpec
from vosbench.core.video import VideoSequence
from vosbench.models.base import Encoder
from vosbench.propagation.engine import Timings, propagate_vos
from vosbench.propagation.protocol import PRESETS
from vosbench.core.registry import models

CHANNELS = {18: 256, 50: 1024}


def release_file(path, depth: int, seed: int = 0):
    """The released layout: {'state_dict': torchvision names with layer4, no fc, 'meta'}."""
    sd = torchvision_state_dict(depth, seed=seed)
    torch.save({"state_dict": sd, "meta": {"mmcv_version": "1.3.1", "config": "model = dict(type='SimSiamBaseTracker')"}}, path)
    return sd


def to_mmaction(sd: dict) -> dict:
    """torchvision names -> the mmaction tracker's (``backbone.`` + ConvModule ``conv`` / ``bn``),
    the inverse of mmaction's ``ResNet._load_torchvision_checkpoint`` mapping."""
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] == "conv1":
            name = "conv1.conv." + parts[1]
        elif parts[0] == "bn1":
            name = "conv1.bn." + ".".join(parts[1:])
        elif parts[2] == "downsample":
            name = ".".join(parts[:3] + ["conv" if parts[3] == "0" else "bn"] + parts[4:])
        elif parts[2].startswith("conv"):
            name = ".".join(parts[:3] + ["conv"] + parts[3:])
        else:  # layerI.J.bnK.* -> layerI.J.convK.bn.*
            name = ".".join(parts[:2] + ["conv" + parts[2][2:], "bn"] + parts[3:])
        out["backbone." + name] = v
    return out


@pytest.fixture(scope="module")
def frame(davis16_mini) -> torch.Tensor:
    img = Image.open(davis16_mini / "JPEGImages/480p/car-shadow/00010.jpg").convert("RGB").resize((86, 62))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("depth", [18, 50])
def test_release_file_loads_and_matches_reference(tmp_path, frame, depth):
    sd = release_file(tmp_path / "vfs.pth", depth, seed=depth)
    model = vosbench.create_model(f"vfs-r{depth}", checkpoint=tmp_path / "vfs.pth")
    with torch.inference_mode():
        got = model(frame)
        want = reference_layer3(frame, sd, depth)
    assert got.shape == (1, CHANNELS[depth], 8, 11) == want.shape
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()
    assert want.abs().mean() > 0.05


def test_mmaction_training_checkpoint_loads(tmp_path, frame):
    sd = torchvision_state_dict(18, seed=7)
    state = to_mmaction(sd)
    state["img_head.projection_convs.0.weight"] = torch.zeros(512, 512)  # the SimSiam head, dropped
    state["iteration"] = torch.tensor(5000.0)
    assert "backbone.layer2.0.conv1.bn.running_var" in state and "backbone.layer2.0.downsample.conv.weight" in state
    torch.save({"meta": {}, "state_dict": state, "optimizer": {"state": {}, "param_groups": []}}, tmp_path / "epoch_100.pth")
    model = vosbench.create_model("vfs-r18", checkpoint=tmp_path / "epoch_100.pth")
    with torch.inference_mode():
        assert (model(frame) - reference_layer3(frame, sd, 18)).abs().max().item() <= 1e-4


@pytest.mark.parametrize(
    "state, needle",
    [
        ({"module.encoder_q." + k: v for k, v in torchvision_state_dict(18, fc=128).items()}, "a MoCo checkpoint"),
        (torchvision_state_dict(18, fc=1000), "a torchvision ImageNet classifier (--model resnet18-imagenet or resnet50-imagenet)"),
        ({"encoder.model." + k: v for k, v in torchvision_state_dict(18, layer4=False).items()}, "a CRW checkpoint"),
    ],
)
def test_other_formats_are_refused_in_one_line(tmp_path, state, needle):
    torch.save({"state_dict": state}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError) as e:
        vosbench.create_model("vfs-r18", checkpoint=tmp_path / "other.pth")
    msg = str(e.value)
    assert "\n" not in msg and "is not a VFS checkpoint" in msg and needle in msg


def test_cli_refuses_another_format_and_runs_the_release_layout(tmp_path, tiny_davis17):
    torch.save({"epoch": 1, "state_dict": {"module.encoder." + k: v for k, v in torchvision_state_dict(18).items()}},
               tmp_path / "simsiam.pth")
    release_file(tmp_path / "vfs.pth", 18)
    runner = CliRunner()
    base = ["run", "--model", "vfs-r18", "--dataset", "davis17-val", "--data-root", str(tiny_davis17),
            "--device", "cpu", "--out", str(tmp_path / "runs"), "--protocol", "native"]
    res = runner.invoke(cli, [*base, "--checkpoint", str(tmp_path / "simsiam.pth")])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "is not a VFS checkpoint" in res.output
    assert "a SimSiam checkpoint (--model simsiam-r50)" in res.output
    res = runner.invoke(cli, [*base, "--checkpoint", str(tmp_path / "vfs.pth")])
    assert res.exit_code == 0, res.output
    assert "vfs v1" in res.output


# --- the vfs preset against VFS's test loop -------------------------------------------------------


def vfs_pipeline(encoder, frames: list[torch.Tensor], seg0: np.ndarray, precede: int = 20,
                 mask: torch.Tensor | None = None) -> list[np.ndarray]:
    """Predicted id maps of frames 1.. as VFS's ``forward_test`` computes them (``mask``: another
    [key cell, query cell] neighbourhood than VFS's circle)."""
    with torch.inference_mode():
        feats = [encoder(x[None])[0] for x in frames]
    c, h, w = feats[0].shape
    small = np.array(Image.fromarray(seg0).resize((w, h), Image.NEAREST))
    first = F.one_hot(torch.from_numpy(small).long()).permute(2, 0, 1).float()
    ii, jj = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    dist = ((ii.reshape(-1, 1) - ii.reshape(1, -1)) ** 2 + (jj.reshape(-1, 1) - jj.reshape(1, -1)) ** 2) ** 0.5
    if mask is None:
        mask = dist < 24 // 2  # [key cell, query cell]
    bank = [first]
    out = []
    for t in range(1, len(frames)):
        start = max(0, t - precede)
        keys = [feats[0]] + feats[start:t]
        values = [bank[0]] + bank[start:t]
        key = F.normalize(torch.stack(keys, 1).reshape(c, -1), dim=0)  # C x (T*h*w)
        query = F.normalize(feats[t].reshape(c, -1), dim=0)
        aff = (key.T @ query) / 0.07  # (T*h*w) x (h*w)
        aff.masked_fill_(~mask.repeat(len(keys), 1), float("-inf"))
        top, idx = aff.topk(10, dim=0)
        vals = torch.stack(values, 1).reshape(first.shape[0], -1)[:, idx]  # K x 10 x (h*w)
        seg = (vals * top.softmax(dim=0)[None]).sum(1).reshape(-1, h, w)
        bank.append(seg)
        up = F.interpolate(seg[None], size=seg0.shape, mode="bilinear", align_corners=False)[0]
        lo = up.flatten(1).min(1).values.view(-1, 1, 1)
        hi = up.flatten(1).max(1).values.view(-1, 1, 1)
        up = torch.where(hi > 0, (up - lo) / (hi - lo + 1e-12), up)
        out.append(up.argmax(0).numpy().astype(np.uint8))
    return out


class PatchEncoder(Encoder):
    """A seeded 8x8 stride-8 convolution (32 channels): cheap features with spatial variety."""

    def __init__(self):
        super().__init__(ModelSpec(name="patch8", description="test", factory="-", stride=8, channels=32))
        torch.manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 32, 8, stride=8)

    def forward_features(self, x):
        return self.conv(x)


def small_sequence(root, tmp_path, name: str, frames: int, size: tuple[int, int]):
    """The first ``frames`` frames of a real DAVIS-2016 sequence resized to ``size`` (W, H), as a
    sequence, the frame files and the frame-0 mask (bool)."""
    paths = []
    for p in sorted((root / "JPEGImages/480p" / name).glob("*.jpg"))[:frames]:
        Image.open(p).convert("RGB").resize(size, Image.BILINEAR).save(tmp_path / f"{p.stem}.png")
        paths.append(tmp_path / f"{p.stem}.png")
    seg0 = np.asarray(Image.open(root / "Annotations/480p" / name / "00000.png").resize(size, Image.NEAREST)) > 128
    Image.fromarray(seg0.astype(np.uint8) * 255).save(tmp_path / "anno.png")  # DAVIS-2016: 0 / 255
    seq = VideoSequence(name, [p.stem for p in paths], paths, annotations={0: tmp_path / "anno.png"}, binary_masks=True)
    return seq, paths, seg0


def test_vfs_preset_equals_vfs_test_loop(davis16_mini, tmp_path):
    """23 real frames at 224x128 (a 28x16 feature grid, wider than the radius-12 circle), so that
    frame 0 is in the previous-frame window for t <= 20 and has left it afterwards."""
    seq, paths, seg0 = small_sequence(davis16_mini, tmp_path, "car-shadow", 23, (224, 128))
    encoder = PatchEncoder().eval()
    protocol = PRESETS["vfs"]
    ours = dict(propagate_vos(seq, encoder, protocol, torch.device("cpu"), Timings()))
    frames = [torch.from_numpy(np.asarray(Image.open(p)).copy()).permute(2, 0, 1).float() / 255 for p in paths]
    ref = vfs_pipeline(encoder, frames, seg0.astype(np.uint8))
    assert all(np.array_equal(ours[t], ref[t - 1]) for t in range(1, len(paths)))
    # frame 0 counted twice while t <= 20 changes the result: the setting is not a no-op
    other = dict(propagate_vos(seq, encoder, protocol.replace(first_in_window=False), torch.device("cpu"), Timings()))
    assert any(not np.array_equal(other[t], ours[t]) for t in range(1, 21))


def test_vfs_preset_is_the_models_native_one():
    """VFS's two configs' test_cfg: neighbor_range 24 (ResNet-18) and 36 (ResNet-50), circle mode."""
    assert (models.get("vfs-r18").native_protocol, models.get("vfs-r50").native_protocol) == ("vfs", "vfs-r50")
    for name, radius in (("vfs", 12.0), ("vfs-r50", 18.0)):
        p = PRESETS[name]
        assert (p.context, p.topk, p.temperature, p.radius, p.window) == (20, 10, 0.07, radius, "circle")
        assert p.first_frame and p.first_in_window and not p.pad_with_first and p.radius_on_first
        assert p.settings() == PRESETS["vfs"].replace(radius=radius).settings()
