"""DINOv2 hub backbones: the released key layout loads strictly; features equal the official forward.

The reference below restates facebookresearch/dinov2's ``DinoVisionTransformer`` (hub settings of
``dinov2/hub/backbones.py``) with functional ops: ``prepare_tokens_with_masks`` (class token, the
positional embeddings through ``interpolate_pos_encoding`` with its (x, w, h) naming, then the
register tokens), blocks with LayerScale, explicit softmax attention, and
``get_intermediate_layers(n=1, norm=True)``. Weights are random but non-trivial (norms, LayerScale
and biases far from their initial values), at 238x420 (a 17x30 grid, not the stored 37x37).
Comparisons run in float64 (equal to 1e-9); in float32 the two orders of operations differ by
about 1e-5 after 12 blocks of these deliberately large weights.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import vosbench
from vosbench.cli.main import cli
from vosbench.core.errors import ConfigError
from vosbench.core.registry import models
from vosbench.core.specs import resolve
from vosbench.models.checkpoints import load_strict
from vosbench.models.dinov2 import VARIANTS, DinoV2Transformer

# float32 constants, as the encoder's buffers
MEAN = torch.tensor([0.485, 0.456, 0.406]).double().view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).double().view(1, 3, 1, 1)
TOL = 1e-9


def hub_state_dict(dim: int, depth: int, registers: int, swiglu: bool = False, seed: int = 0) -> OrderedDict:
    """``dinov2_vit*14[_reg4]_pretrain.pth``, key by key (block_chunks=0, 37x37 + 1 positions)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, s=0.02):
        return torch.randn(*shape, generator=g) * s

    sd = OrderedDict(cls_token=r(1, 1, dim, s=0.5), pos_embed=r(1, 37 * 37 + 1, dim, s=0.5))
    if registers:
        sd["register_tokens"] = r(1, registers, dim, s=0.5)
    sd["mask_token"] = r(1, dim)
    sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"] = r(dim, 3, 14, 14, s=0.03), r(dim, s=0.1)
    hidden = (int(4 * dim * 2 / 3) + 7) // 8 * 8
    for i in range(depth):
        p = f"blocks.{i}."
        for ln in ("norm1", "norm2"):
            sd[p + ln + ".weight"], sd[p + ln + ".bias"] = 1 + r(dim, s=0.2), r(dim, s=0.2)
        sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"] = r(3 * dim, dim, s=0.05), r(3 * dim, s=0.1)
        sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"] = r(dim, dim, s=0.1), r(dim, s=0.1)
        sd[p + "ls1.gamma"] = 0.5 + r(dim, s=0.3)
        if swiglu:
            sd[p + "mlp.w12.weight"], sd[p + "mlp.w12.bias"] = r(2 * hidden, dim, s=0.1), r(2 * hidden, s=0.1)
            sd[p + "mlp.w3.weight"], sd[p + "mlp.w3.bias"] = r(dim, hidden, s=0.05), r(dim, s=0.1)
        else:
            sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"] = r(4 * dim, dim, s=0.1), r(4 * dim, s=0.1)
            sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"] = r(dim, 4 * dim, s=0.05), r(dim, s=0.1)
        sd[p + "ls2.gamma"] = 0.5 + r(dim, s=0.3)
    sd["norm.weight"], sd["norm.bias"] = 1 + r(dim, s=0.2), r(dim, s=0.2)
    return OrderedDict((k, v.float().double()) for k, v in sd.items())  # float32 values, as the files


def official_pos(sd, x_tokens, w, h, offset, antialias):
    """``interpolate_pos_encoding(x, w, h)``: w, h are the input's dims 2 and 3 (height, width)."""
    npatch, N = x_tokens.shape[1] - 1, sd["pos_embed"].shape[1] - 1
    if npatch == N and w == h:
        return sd["pos_embed"]
    pos = sd["pos_embed"].float()
    dim, M = x_tokens.shape[-1], int(math.sqrt(N))
    w0, h0 = w // 14, h // 14
    kwargs = {"scale_factor": (float(w0 + offset) / M, float(h0 + offset) / M)} if offset else {"size": (w0, h0)}
    p = F.interpolate(pos[:, 1:].reshape(1, M, M, dim).permute(0, 3, 1, 2), mode="bicubic", antialias=antialias, **kwargs)
    assert (w0, h0) == p.shape[-2:]
    return torch.cat((pos[:, 0].unsqueeze(0), p.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)


def official_forward(x, sd, heads, registers, swiglu=False, n=None):
    """The hub backbone's ``get_intermediate_layers(x, n=[n] or 1, norm=True, reshape=True)``."""
    offset, antialias = (0.0, True) if registers else (0.1, False)
    b, _, w, h = x.shape
    t = F.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=14).flatten(2).transpose(1, 2)
    t = torch.cat((sd["cls_token"].expand(b, -1, -1), t), dim=1)
    t = t + official_pos(sd, t, w, h, offset, antialias)
    if registers:
        t = torch.cat((t[:, :1], sd["register_tokens"].expand(b, -1, -1), t[:, 1:]), dim=1)
    dim, depth = t.shape[-1], len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    take = depth - 1 if n is None else n
    for i in range(take + 1):
        p = f"blocks.{i}."
        y = F.layer_norm(t, (dim,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        q, k, v = F.linear(y, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"]).reshape(b, -1, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) * (dim // heads) ** -0.5, dim=-1)
        y = F.linear((att @ v).transpose(1, 2).reshape(b, -1, dim), sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        t = t + y * sd[p + "ls1.gamma"]
        y = F.layer_norm(t, (dim,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        if swiglu:
            a, c = F.linear(y, sd[p + "mlp.w12.weight"], sd[p + "mlp.w12.bias"]).chunk(2, dim=-1)
            y = F.linear(F.silu(a) * c, sd[p + "mlp.w3.weight"], sd[p + "mlp.w3.bias"])
        else:
            y = F.linear(F.gelu(F.linear(y, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"])), sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
        t = t + y * sd[p + "ls2.gamma"]
    t = F.layer_norm(t, (dim,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)[:, 1 + registers :]
    return t.reshape(b, w // 14, h // 14, -1).permute(0, 3, 1, 2)


def frame(h: int, w: int, seed: int = 3) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("registers", [0, 4])
def test_vits14_file_equals_official_forward_at_238x420(tmp_path, registers):
    sd = hub_state_dict(384, 12, registers, seed=registers)
    name = "dinov2-vits14" + ("-reg" if registers else "")
    torch.save(sd, tmp_path / "hub.pth")
    enc = vosbench.create_model(name, tmp_path / "hub.pth").double()
    x = frame(238, 420)
    with torch.inference_mode():
        got = enc(x)
        want = official_forward((x - MEAN) / STD, sd, heads=6, registers=registers)
    assert got.shape == want.shape == (1, 384, 17, 30)
    assert (got - want).abs().max().item() <= TOL
    # the register models resize by size with anti-aliasing, the others by scale factor + 0.1
    assert enc.vit.interpolate_offset == (0.0 if registers else 0.1)
    assert enc.vit.interpolate_antialias == bool(registers)


@pytest.mark.parametrize("registers", [0, 4])
def test_offset_and_antialias_change_the_embeddings_away_from_518(registers):
    vit = DinoV2Transformer(48, 1, 3, registers, swiglu=False).double()
    load_strict(vit, hub_state_dict(48, 1, registers), source="test")
    assert vit.pos_embed_for(37, 37) is vit.pos_embed
    got = vit.pos_embed_for(17, 30)
    grid = vit.pos_embed[:, 1:].reshape(1, 37, 37, 48).permute(0, 3, 1, 2)
    plain = F.interpolate(grid, size=(17, 30), mode="bicubic").permute(0, 2, 3, 1).reshape(1, -1, 48)
    assert (got[:, 1:] - plain).abs().max() > 1e-2  # neither rule is a plain output-size resize


def test_giant_swiglu_and_intermediate_layer_match_official():
    sd = hub_state_dict(48, 3, 4, swiglu=True, seed=5)
    x = frame(70, 98)
    for layer in (-1, 1):
        vit = DinoV2Transformer(48, 3, 3, 4, swiglu=True, layer=layer).double()
        load_strict(vit, sd, source="test")
        with torch.inference_mode():
            got, want = vit(x), official_forward(x, sd, heads=3, registers=4, swiglu=True, n=layer % 3)
        assert (got - want).abs().max().item() <= TOL, layer


def test_crop_and_pad_fit_to_the_patch_grid():
    sd = hub_state_dict(48, 2, 0, seed=1)
    spec = models.get("dinov2-vits14")
    build = resolve(spec.factory)
    x = frame(250, 430)  # 17*14 + 12, 30*14 + 10
    crop, pad = build(spec).double(), build(spec, fit="pad").double()
    for enc in (crop, pad):
        enc.vit = DinoV2Transformer(48, 2, 3, 0, swiglu=False).double()  # a small ViT in the ViT-S encoder
        load_strict(enc.vit, sd, source="test")
    with torch.inference_mode():
        got_crop, got_pad = crop(x), pad(x)
        want_crop = official_forward((x[..., :238, :420] - MEAN) / STD, sd, heads=3, registers=0)
        padded = F.pad((x - MEAN) / STD, (0, 4, 0, 2), mode="replicate")
        want_pad = official_forward(padded, sd, heads=3, registers=0)
    assert got_crop.shape == got_pad.shape == (1, 48, 18, 31)
    assert (got_crop[..., :17, :30] - want_crop).abs().max() <= TOL
    assert torch.equal(got_crop[..., 17, :30], got_crop[..., 16, :30])  # cropped strip: edge replication
    assert torch.equal(got_crop[..., :, 30], got_crop[..., :, 29])
    assert (got_pad - want_pad).abs().max() <= TOL
    assert crop.feature_info["patch_fit"] == "crop" and pad.feature_info["patch_fit"] == "pad"


@pytest.mark.parametrize("name", [f"dinov2-vit{s}14{r}" for s in "sblg" for r in ("", "-reg")])
def test_full_size_keys_and_shapes(name):
    spec = models.get(name)
    size, registers = name[10], 4 if name.endswith("-reg") else 0
    dim, depth, heads = VARIANTS[size]
    assert (spec.stride, spec.channels, spec.native_protocol, spec.input_multiple) == (14, dim, "dino", 1)
    with torch.device("meta"):
        ours = {k: tuple(v.shape) for k, v in resolve(spec.factory)(spec).vit.state_dict().items()}
        want = {k: tuple(v.shape) for k, v in hub_state_dict(dim, depth, registers, swiglu=size == "g").items()}
    assert ours == want
    assert spec.weights[0].url.endswith(f"/dinov2_vit{size}14{'_reg4' if registers else ''}_pretrain.pth")


def run_cli(*args):
    """``vosbench run`` on one demo sequence (synthetic-davis drift-2, 240x432 frames) on the CPU."""
    return CliRunner().invoke(cli, ["run", "--dataset", "synthetic-davis", "--sequences", "drift-2", "--device", "cpu", *map(str, args)])


def one_line_error(r) -> str:
    """The single line a refused ``vosbench run`` printed (exit code 2 asserted)."""
    assert r.exit_code == 2, r.output
    (line,) = [x for x in r.output.splitlines() if x.strip()]
    return line


@pytest.mark.parametrize(
    "model, file, why",
    [
        ("dinov2-vits14", "dino", "no LayerScale (blocks.0.ls1.gamma) or mask_token"),
        ("dinov2-vits14", "reg", "it has register_tokens: use --model dinov2-vits14-reg"),
        ("dinov2-vits14-reg", "plain", "it lacks register_tokens: use --model dinov2-vits14"),
        ("dinov2-vitb14", "plain", "its width is 384, not 768: use --model dinov2-vits14"),
    ],
)
def test_other_formats_are_refused_in_one_line(tmp_path, model, file, why):
    files = {
        "dino": lambda: {k: v for k, v in hub_state_dict(48, 1, 0).items() if "ls" not in k and k != "mask_token"},
        "reg": lambda: hub_state_dict(384, 1, 4),
        "plain": lambda: hub_state_dict(384, 1, 0),
    }
    torch.save(files[file](), tmp_path / "w.pth")
    line = one_line_error(run_cli("--model", model, "--checkpoint", tmp_path / "w.pth", "--out", tmp_path / "runs"))
    assert "is not a DINOv2 hub backbone state dict" in line and why in line


def test_run_end_to_end_on_the_demo_data_records_the_feature_read(tmp_path):
    torch.save(hub_state_dict(384, 12, 4, seed=7), tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    r = run_cli("--model", "dinov2-vits14-reg", "--checkpoint", tmp_path / "dinov2_vits14_reg4_pretrain.pth",
                "--option", "layer=10", "--protocol", "native", "--set", "size=70", "--no-save-predictions",
                "--out", tmp_path / "runs")  # DINO's preset at short side 70: 70x128 frames, cropped to 70x126
    assert r.exit_code == 0, r.output
    (summary,) = (tmp_path / "runs").rglob("summary.json")
    rec = json.loads(summary.read_text())
    assert rec["model"]["features"] == {"layer": "block 10 of 12 (0-based) + final norm, patch tokens", "stride": 14, "patch_fit": "crop"}
    assert rec["protocol"]["name"] == "dino" and rec["status"] == "complete"


def test_bad_options_are_config_errors():
    spec = models.get("dinov2-vits14")
    with pytest.raises(ConfigError, match="fit='resize'"):
        resolve(spec.factory)(spec, fit="resize")
    with pytest.raises(ConfigError, match="layer 12 out of range"):
        resolve(spec.factory)(spec, layer=12)
