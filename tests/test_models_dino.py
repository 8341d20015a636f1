"""DINO ViTs: released file layouts load strictly; features equal a straightforward ViT.

The reference ViT below is written from facebookresearch/dino (vision_transformer.py) with explicit
attention (softmax(QK^T/sqrt(d))V) and DINO's positional-embedding rule (bicubic, scale factor
(n + 0.1) / g). Forward passes use
tiny variants built by the same code as the zoo models; full sizes are checked on keys/shapes.
"""

from __future__ import annotations

import argparse
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import vosbench
from vosbench.core.errors import CheckpointError
from vosbench.core.registry import models
from vosbench.core.specs import ModelSpec
from vosbench.models.dino import DinoEncoder, build_dino, load_dino_state, variant_of

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.228, 0.224, 0.225]).view(1, 3, 1, 1)  # DINO's 0.228 for red
FULL = {"dino-vits16": (16, 384, 6), "dino-vits8": (8, 384, 6), "dino-vitb16": (16, 768, 12), "dino-vitb8": (8, 768, 12)}


def vit_state_dict(patch: int, dim: int, depth: int, seed: int = 0, img: int = 224) -> OrderedDict:
    """A DINO backbone state dict, key by key (the layout of dino_*_pretrain.pth)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.02):
        return torch.randn(*shape, generator=g) * s

    n = (img // patch) ** 2
    sd = OrderedDict(cls_token=r(1, 1, dim), pos_embed=r(1, n + 1, dim, s=0.5))
    sd["patch_embed.proj.weight"] = r(dim, 3, patch, patch, s=0.05)
    sd["patch_embed.proj.bias"] = r(dim)
    for i in range(depth):
        p = f"blocks.{i}."
        for ln in ("norm1", "norm2"):
            sd[p + ln + ".weight"] = 1 + r(dim, s=0.1)
            sd[p + ln + ".bias"] = r(dim, s=0.1)
        sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"] = r(3 * dim, dim, s=0.2), r(3 * dim)
        sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"] = r(dim, dim, s=0.1), r(dim)
        sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"] = r(4 * dim, dim, s=0.1), r(4 * dim)
        sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"] = r(dim, 4 * dim, s=0.05), r(dim)
    sd["norm.weight"], sd["norm.bias"] = 1 + r(dim, s=0.1), r(dim, s=0.1)
    return sd


def reference_vit(x: torch.Tensor, sd: dict, patch: int, heads: int) -> torch.Tensor:
    """Normalise, pad (replicate) to the patch grid, ViT, last block + final norm, drop CLS."""
    h, w = x.shape[-2:]
    x = (x - MEAN) / STD
    x = F.pad(x, (0, (-w) % patch, 0, (-h) % patch), mode="replicate")
    b = x.shape[0]
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=patch)
    dim, gh, gw = t.shape[1:]
    t = torch.cat([sd["cls_token"].expand(b, -1, -1), t.flatten(2).transpose(1, 2)], dim=1)
    pos = sd["pos_embed"]
    g = int(math.sqrt(pos.shape[1] - 1))
    if (gh, gw) != (g, g):
        grid = pos[:, 1:].reshape(1, g, g, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((gh + 0.1) / g, (gw + 0.1) / g), mode="bicubic", align_corners=False)
        pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, dim)], dim=1)
    t = t + pos
    n = t.shape[1]
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    for i in range(depth):
        p = f"blocks.{i}."
        y = F.layer_norm(t, (dim,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        q, k, v = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).reshape(b, n, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax((q @ k.transpose(-2, -1)) / math.sqrt(dim // heads), dim=-1)
        t = t + F.linear((att @ v).transpose(1, 2).reshape(b, n, dim), sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        y = F.layer_norm(t, (dim,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        y = F.linear(F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])), sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
        t = t + y
    t = F.layer_norm(t, (dim,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)
    out = t[:, 1:].transpose(1, 2).reshape(b, dim, gh, gw)
    return out[..., : -(-h // patch), : -(-w // patch)]


def tiny_spec(patch: int) -> ModelSpec:
    return ModelSpec(
        name=f"dino-tiny{patch}", description="test", factory="vosbench.models.dino:build_dino", stride=patch,
        channels=48, mean=tuple(MEAN.flatten().tolist()), std=tuple(STD.flatten().tolist()), input_multiple=patch,
    )


@pytest.fixture(scope="module")
def frame(davis16_mini) -> torch.Tensor:
    img = Image.open(davis16_mini / "JPEGImages/480p/dog/00005.jpg").convert("RGB").resize((100, 60))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("patch", [8, 16])
def test_flat_and_full_checkpoints_load_and_match_reference(tmp_path, frame, patch):
    teacher = vit_state_dict(patch, 48, 2, seed=1)
    student = vit_state_dict(patch, 48, 2, seed=2)
    torch.save(teacher, tmp_path / "flat.pth")
    head = {"head.mlp.0.weight": torch.zeros(16, 48), "head.last_layer.weight_g": torch.ones(8, 1)}
    full = {
        "student": {**{f"module.backbone.{k}": v for k, v in student.items()}, **{f"module.{k}": v for k, v in head.items()}},
        "teacher": {**{f"backbone.{k}": v for k, v in teacher.items()}, **head},
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.0, "params": [0]}]},
        "epoch": 100,
        "args": argparse.Namespace(arch="vit_tiny", patch_size=patch, out_dim=65536),
        "dino_loss": {"center": torch.zeros(1, 65536)},
    }
    torch.save(full, tmp_path / "full_checkpoint.pth")
    x = torch.cat([frame, torch.rand(1, 3, 60, 100, generator=torch.Generator().manual_seed(3))])
    for path, key, sd in ((tmp_path / "flat.pth", "teacher", teacher), (tmp_path / "full_checkpoint.pth", "teacher", teacher), (tmp_path / "full_checkpoint.pth", "student", student)):
        enc = DinoEncoder(tiny_spec(patch), embed_dim=48, depth=2, num_heads=3)
        load_dino_state(enc, path, checkpoint_key=key)
        with torch.inference_mode():
            got = enc.eval()(x)
            want = reference_vit(x, sd, patch, heads=3)
        assert got.shape == (2, 48, -(-60 // patch), -(-100 // patch))
        assert (got - want).abs().max().item() <= 1e-5, (path.name, key)


def test_positional_embedding_follows_dino_rule():
    enc = DinoEncoder(tiny_spec(16), embed_dim=48, depth=1, num_heads=3)
    vit = enc.vit
    assert vit.pos_embed_for(14, 14) is vit.pos_embed  # the stored 224x224 grid is used as is
    got = vit.pos_embed_for(30, 52)  # 480x832, DINO's DAVIS resolution at /16
    assert got.shape == (1, 1 + 30 * 52, 48)
    assert torch.equal(got[:, 0], vit.pos_embed[:, 0])
    grid = vit.pos_embed[:, 1:].reshape(1, 14, 14, 48).permute(0, 3, 1, 2)
    by_size = F.interpolate(grid, size=(30, 52), mode="bicubic", align_corners=False)
    by_size = by_size.permute(0, 2, 3, 1).reshape(1, -1, 48)
    # the +0.1 scale factor samples other positions than an output-size resize (timm's way)
    assert (got[:, 1:] - by_size).abs().max() > 1e-3


@pytest.mark.parametrize("name", sorted(FULL))
def test_full_size_keys_and_shapes(name):
    patch, dim, heads = FULL[name]
    spec = models.get(name)
    assert (spec.stride, spec.input_multiple, spec.channels, spec.native_protocol) == (patch, patch, dim, "dino")
    assert spec.std == (0.228, 0.224, 0.225) and spec.mean == (0.485, 0.456, 0.406)
    assert variant_of(spec) == (dim, 12, heads)
    with torch.device("meta"):
        ours = DinoEncoder(spec, *variant_of(spec)).vit.state_dict()
    want = vit_state_dict(patch, dim, 12, img=224) if name == "dino-vits16" else None
    if want is not None:
        assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in want.items()}
    assert len(ours) == 150 and ours["pos_embed"].shape == (1, (224 // patch) ** 2 + 1, dim)


def test_timm_uses_the_same_key_names():
    timm = pytest.importorskip("timm")
    spec = models.get("dino-vitb8")
    with torch.device("meta"):
        ref = timm.create_model("vit_base_patch8_224", pretrained=False, num_classes=0).state_dict()
        ours = DinoEncoder(spec, *variant_of(spec)).vit.state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in ref.items()}


def test_real_size_flat_file_loads_through_create_model(tmp_path):
    torch.save(vit_state_dict(16, 384, 12, seed=4), tmp_path / "dino_deitsmall16_pretrain.pth")
    model = vosbench.create_model("dino-vits16", checkpoint=tmp_path / "dino_deitsmall16_pretrain.pth")
    assert model.stride == 16 and model.vit.pos_embed.shape == (1, 197, 384)


def test_wrong_size_is_a_clear_error(tmp_path):
    torch.save(vit_state_dict(16, 48, 2), tmp_path / "tiny.pth")
    spec = models.get("dino-vits16")
    with pytest.raises(CheckpointError) as e:
        build_dino(spec, checkpoint=tmp_path / "tiny.pth")
    msg = str(e.value)
    assert "missing keys: blocks.2." in msg and "mis-shaped" in msg and "width 384, depth 12, patch 16" in msg
