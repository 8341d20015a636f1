"""MAE, CropMAE, SiamMAE: the released file structures load strictly; features equal the official forward.

The reference restates CropMAE's ``downstreams/propagation/src/models_mae.py`` forward (patch
embedding, CLS, ``interpolate_pos_encoding`` with the +0.1 scale factor and its (x, w, h) naming,
timm ``Block``s without LayerScale, final ``norm``) and ``test.py``'s read-out (CLS dropped,
reshaped to h//16 x w//16) with functional ops, on non-trivial random weights in float64. MAE's
encoder (``models_vit.py`` + ``models_mae.forward_encoder``) is the same computation on its file.
Small widths are patched into the size table so the real loading path runs quickly.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

import vosbench
from vosbench.core.registry import models
from vosbench.core.specs import resolve
from vosbench.models import mae
from tests.test_models_dinov2 import one_line_error, run_cli

MEAN = torch.tensor([0.485, 0.456, 0.406]).double().view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).double().view(1, 3, 1, 1)


def encoder_state(dim: int, depth: int, seed: int = 0) -> OrderedDict:
    """An MAE encoder state dict (``models_vit`` / ``MAEViT`` names), float32 values."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.02):
        return torch.randn(*shape, generator=g) * s

    sd = OrderedDict(cls_token=r(1, 1, dim, s=0.5), pos_embed=r(1, 14 * 14 + 1, dim, s=0.5))
    sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"] = r(dim, 3, 16, 16, s=0.03), r(dim, s=0.1)
    for i in range(depth):
        p = f"blocks.{i}."
        for ln in ("norm1", "norm2"):
            sd[p + ln + ".weight"], sd[p + ln + ".bias"] = 1 + r(dim, s=0.2), r(dim, s=0.2)
        sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"] = r(3 * dim, dim, s=0.05), r(3 * dim, s=0.1)
        sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"] = r(dim, dim, s=0.1), r(dim, s=0.1)
        sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"] = r(4 * dim, dim, s=0.1), r(4 * dim, s=0.1)
        sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"] = r(dim, 4 * dim, s=0.05), r(dim, s=0.1)
    sd["norm.weight"], sd["norm.bias"] = 1 + r(dim, s=0.2), r(dim, s=0.2)
    return sd


def decoder_state(dim: int) -> dict:
    return {"mask_token": torch.zeros(1, 1, 32), "decoder_embed.weight": torch.ones(32, dim),
            "decoder_pos_embed": torch.zeros(1, 197, 32), "decoder_blocks.0.norm1.weight": torch.ones(32),
            "decoder_norm.weight": torch.ones(32), "decoder_pred.weight": torch.ones(768, 32)}


def save_cropmae(path, dim, depth, seed=0):
    """``misc.save_model``: {'model', 'optimizer', 'epoch', 'scaler', 'args'} with encoder + decoder."""
    sd = encoder_state(dim, depth, seed)
    torch.save({"model": {**sd, **decoder_state(dim)}, "optimizer": {"state": {}, "param_groups": []}, "epoch": 399,
                "scaler": {"scale": 65536.0, "growth_factor": 2.0}, "args": argparse.Namespace(model="vits", blr=1.5e-4)}, path)
    return sd


def official_forward(x, sd, heads):
    """CropMAE's models_mae forward + test.py's read-out, functionally."""
    b, _, w, h = x.shape
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=16).flatten(2).transpose(1, 2)
    t = torch.cat((sd["cls_token"].expand(b, -1, -1), t), dim=1)
    N, dim = sd["pos_embed"].shape[1] - 1, t.shape[-1]
    if t.shape[1] - 1 == N and w == h:
        pos = sd["pos_embed"]
    else:
        w0, h0 = w // 16 + 0.1, h // 16 + 0.1
        p = F.interpolate(sd["pos_embed"][:, 1:].reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
                          scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)), mode="bicubic")
        assert int(w0) == p.shape[-2] and int(h0) == p.shape[-1]
        pos = torch.cat((sd["pos_embed"][:, 0].unsqueeze(0), p.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)
    t = t + pos
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    for i in range(depth):
        p = f"blocks.{i}."
        y = F.layer_norm(t, (dim,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        q, k, v = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).reshape(b, -1, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) * (dim // heads) ** -0.5, dim=-1)
        t = t + F.linear((att @ v).transpose(1, 2).reshape(b, -1, dim), sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        y = F.layer_norm(t, (dim,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        t = t + F.linear(F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])), sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
    t = F.layer_norm(t, (dim,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)[:, 1:]
    return t.view(b, w // 16, h // 16, -1).permute(0, 3, 1, 2)


@pytest.fixture
def tiny(monkeypatch):
    """Every size letter builds a 48-wide, 2-block ViT (3 heads)."""
    for size in "sbl":
        monkeypatch.setitem(mae.VARIANTS, size, (48, 2, 3))


@pytest.mark.parametrize("name, wrap", [("mae-vitb16", "released"), ("mae-vitl16", "training"), ("cropmae-vits16", "cropmae"), ("siammae-vits16", "cropmae")])
def test_files_load_and_equal_the_official_forward_at_96x224(tmp_path, tiny, name, wrap):
    sd = encoder_state(48, 2, seed=len(name))
    if wrap == "released":  # mae_pretrain_vit_*.pth: the encoder alone under 'model'
        torch.save({"model": sd}, tmp_path / "w.pth")
    elif wrap == "training":  # models_mae.py training checkpoint, from DDP
        torch.save({"model": {f"module.{k}": v for k, v in {**sd, **decoder_state(48)}.items()}, "epoch": 1}, tmp_path / "w.pth")
    else:
        sd = save_cropmae(tmp_path / "w.pth", 48, 2, seed=len(name))
    enc = vosbench.create_model(name, tmp_path / "w.pth").double()
    x = torch.rand(2, 3, 96, 224, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.inference_mode():
        got = enc(x)
        want = official_forward((x - MEAN) / STD, {k: v.double() for k, v in sd.items()}, heads=3)
    assert got.shape == want.shape == (2, 48, 6, 14)
    assert (got - want).abs().max().item() <= 1e-9


@pytest.mark.parametrize("name, dim, depth", [("mae-vitb16", 768, 12), ("mae-vitl16", 1024, 24), ("cropmae-vits16", 384, 12), ("siammae-vits16", 384, 12)])
def test_full_size_keys_and_shapes(name, dim, depth):
    spec = models.get(name)
    assert (spec.stride, spec.channels, spec.input_multiple) == (16, dim, 16)
    assert spec.native_protocol == ("dino" if name.startswith("mae") else "cropmae")
    with torch.device("meta"):  # shapes only: neither side allocates the full-size weights
        ours = {k: tuple(v.shape) for k, v in resolve(spec.factory)(spec).vit.state_dict().items()}
        released = {k: tuple(v.shape) for k, v in encoder_state(dim, depth).items()}
    assert ours == released


@pytest.mark.parametrize(
    "model, file, why",
    [
        ("cropmae-vits16", "dino", "has no 'model' entry (a flat state dict of another family?); expected a CropMAE training checkpoint"),
        ("mae-vitb16", "dinov2", "it has LayerScale/register tokens"),
        ("mae-vitb16", "cropmae", "its width is 384, not 768 (ViT-B)"),
        ("cropmae-vits16", "resnet", "no ViT keys"),
    ],
)
def test_other_formats_are_refused_in_one_line(tmp_path, model, file, why):
    path = tmp_path / "w.pth"
    if file == "dino":  # DINO's flat backbone file: the same key names, no 'model' wrapper
        torch.save(encoder_state(384, 1), path)
    elif file == "dinov2":
        torch.save({"model": {**encoder_state(768, 1), "blocks.0.ls1.gamma": torch.ones(768)}}, path)
    elif file == "cropmae":
        save_cropmae(path, 384, 1)
    else:
        torch.save({"model": {"conv1.weight": torch.zeros(64, 3, 7, 7)}}, path)
    assert why in one_line_error(run_cli("--model", model, "--checkpoint", path, "--out", tmp_path / "runs"))


def test_cropmae_runs_end_to_end_on_the_demo_data(tmp_path, tiny):
    save_cropmae(tmp_path / "cropmae.pth", 48, 2, seed=4)  # the small ViT-S (full size: the shapes test above)
    r = run_cli("--model", "cropmae-vits16", "--checkpoint", tmp_path / "cropmae.pth", "--protocol", "native",
                "--set", "gt_size=64x112", "--no-save-predictions", "--out", tmp_path / "runs")
    assert r.exit_code == 0, r.output
    (summary,) = (tmp_path / "runs").rglob("summary.json")
    rec = json.loads(summary.read_text())
    assert rec["status"] == "complete" and rec["protocol"]["name"] == "cropmae"
