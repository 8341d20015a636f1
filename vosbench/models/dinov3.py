"""DINOv3 ViTs /16 (Siméoni et al., 2025), loaded from the released backbone files.

Restated from facebookresearch/dinov3 @6876159 (``dinov3/models/vision_transformer.py``,
``dinov3/layers/``, ``dinov3/hub/backbones.py``), which vosbench does not import. The hub's
LVD-1689M backbones ``dinov3_vit{s16,s16plus,b16,l16,h16plus}`` are ``DinoVisionTransformer`` with:

* a conv patch embedding (kernel = stride = 16), then the tokens ``[class, 4 storage tokens,
  patches]``; no learned positional embedding: positions enter as RoPE on the patch tokens only;
* RoPE (``rope_position_encoding.py``, ``normalize_coords="separate"``): patch centres
  ``(i + 0.5) / H`` and ``(j + 0.5) / W`` mapped to [-1, 1]; angles ``2 pi c / periods`` for the row
  then the column coordinate (``D_head / 4`` periods each), tiled twice; ``q, k`` of the patch
  tokens become ``x cos + rotate_half(x) sin`` with ``rotate_half([a, b]) = [-b, a]``, in float32.
  ``periods`` (``base ** (2 i / (D_head / 2))``, base 100) is a persistent buffer: the value stored in
  the file is used. The coordinate augmentations (``rescale_coords=2``) act only in training;
* pre-norm blocks: LayerNorm (eps 1e-5, ``layernormbf16``) -> attention whose qkv bias is
  multiplied by the stored ``bias_mask`` (``mask_k_bias``: zero on the key third) -> LayerScale
  ``ls1.gamma`` -> residual; LayerNorm -> MLP (``ffn_ratio`` 4, exact GELU; ``fc1``/``fc2``) or, for
  the ``plus`` models, SwiGLU (``w1``, ``w2``, ``w3``; ``ffn_ratio`` 6, hidden ``int(int(D r) 2/3)``
  rounded up to a multiple of 8) -> LayerScale ``ls2.gamma`` -> residual; a final LayerNorm and an
  unused ``mask_token``.

Features: the patch tokens of the last block after the final norm (class and storage tokens
dropped), ``x_norm_patchtokens`` of ``forward_features`` and ``get_intermediate_layers(n=1,
norm=True)``, at stride 16; ``layer=i`` reads block ``i`` after the same norm.

Frame sizes: as DINOv2 in vosbench (``fit=crop`` by default: the right/bottom remainder < 16 px is
cropped and the output grid ceil(H/16) x ceil(W/16) gets the last row/column replicated; ``fit=pad``
pads by edge replication instead). The ``dinov3`` preset resizes frames to multiples of 16 first,
as the official segmentation-tracking notebook does, so neither applies there.

The files are behind a licence form (facebookresearch/dinov3 README): without ``--checkpoint``,
``vosbench run`` says in one line where to request the file (the catalog entry's description).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from vosbench.core.errors import CheckpointError, ConfigError
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.catalog_vit import DINOV3_FILES
from vosbench.models.checkpoints import CheckpointLayout, build_encoder
from vosbench.models.dino import Mlp, PatchEmbed, init_linears
from vosbench.models.dinov2 import FITS, LayerScale, fit_to_patches, to_output_grid

#: (embed_dim, depth, num_heads, ffn_ratio, swiglu) per arch, as ``dinov3/hub/backbones.py``
VARIANTS: dict[str, tuple[int, int, int, int, bool]] = {
    "vits16": (384, 12, 6, 4, False),
    "vits16plus": (384, 12, 6, 6, True),
    "vitb16": (768, 12, 12, 4, False),
    "vitl16": (1024, 24, 16, 4, False),
    "vith16plus": (1280, 32, 20, 6, True),
}
PATCH = 16
STORAGE = 4
ROPE_BASE = 100.0


def rope_sin_cos(periods: torch.Tensor, gh: int, gw: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(sin, cos), each (gh*gw, 4 * len(periods)), float32, for a gh x gw grid (eval: no augmentation)."""
    ys = torch.arange(0.5, gh, device=periods.device, dtype=torch.float32) / gh
    xs = torch.arange(0.5, gw, device=periods.device, dtype=torch.float32) / gw
    coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).flatten(0, 1) * 2.0 - 1.0
    angles = 2 * math.pi * coords[:, :, None] / periods.float()[None, None, :]
    angles = angles.flatten(1).tile(2)
    return torch.sin(angles), torch.cos(angles)


def apply_rope(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """Rotate the last ``sin.shape[0]`` tokens of ``x`` (B, heads, N, d) in float32; prefix tokens kept."""
    prefix = x.shape[-2] - sin.shape[0]
    head, tail = x[..., :prefix, :], x[..., prefix:, :].float()
    a, b = tail.chunk(2, dim=-1)
    tail = tail * cos + torch.cat([-b, a], dim=-1) * sin
    return torch.cat([head, tail.to(x.dtype)], dim=-2)


class MaskedBiasLinear(nn.Linear):
    """The qkv projection of ``mask_k_bias``: its bias times the stored ``bias_mask`` buffer."""

    def __init__(self, dim: int, out: int):
        super().__init__(dim, out)
        mask = torch.ones(out)
        mask[out // 3 : 2 * out // 3] = 0
        self.register_buffer("bias_mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias * self.get_buffer("bias_mask").to(self.bias.dtype))


class RopeAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = MaskedBiasLinear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class SwiGLU3(nn.Module):
    """The ``plus`` models' feed-forward: ``w3(silu(w1 x) * w2 x)``."""

    def __init__(self, dim: int, ratio: int):
        super().__init__()
        d = int(int(dim * ratio) * 2 / 3)
        hidden = d + (-d % 8)
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(dim, hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w3(F.silu(self.w1(x)) * self.w2(x))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, ratio: int, swiglu: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.attn = RopeAttention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        self.mlp: nn.Module = SwiGLU3(dim, ratio) if swiglu else Mlp(dim, dim * ratio)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), rope))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV3Transformer(nn.Module):
    """The hub backbone's parameters and buffers (same names) and its feature path; returns a token map."""

    def __init__(self, arch: str, layer: int = -1):
        super().__init__()
        dim, depth, heads, ratio, swiglu = VARIANTS[arch]
        if not -depth <= layer < depth:
            raise ConfigError(f"layer {layer} out of range: this ViT has {depth} blocks (0..{depth - 1})")
        self.layer = layer % depth
        self.patch_embed = PatchEmbed(PATCH, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.storage_tokens = nn.Parameter(torch.zeros(1, STORAGE, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # masked training only; stored in the files
        self.rope_embed = nn.Module()
        quarter = dim // heads // 4
        self.rope_embed.register_buffer("periods", ROPE_BASE ** (2 * torch.arange(quarter) / (2 * quarter)))
        self.blocks = nn.ModuleList(Block(dim, heads, ratio, swiglu) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.storage_tokens, std=0.02)
        init_linears(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        tokens = self.patch_embed(x)  # (B, D, gh, gw)
        gh, gw = tokens.shape[-2:]
        prefix = [self.cls_token.expand(b, -1, -1), self.storage_tokens.expand(b, -1, -1)]
        tokens = torch.cat([*prefix, tokens.flatten(2).transpose(1, 2)], dim=1)
        rope = rope_sin_cos(self.rope_embed.periods, gh, gw)  # type: ignore[arg-type]
        for block in self.blocks[: self.layer + 1]:
            tokens = block(tokens, rope)
        tokens = self.norm(tokens)[:, 1 + STORAGE :]
        return tokens.transpose(1, 2).reshape(b, -1, gh, gw)


class DinoV3Encoder(Encoder):
    """A DINOv3 hub backbone as an :class:`Encoder`; the backbone sits under ``self.vit``."""

    def __init__(self, spec: ModelSpec, arch: str, layer: int = -1, fit: str = "crop"):
        super().__init__(spec)
        if fit not in FITS:
            raise ConfigError(f"model {spec.name!r}: fit={fit!r}; expected one of {', '.join(FITS)}")
        self.fit = fit
        self.vit = DinoV3Transformer(arch, layer=layer)
        self.feature_info = {
            "layer": f"block {self.vit.layer} of {len(self.vit.blocks)} (0-based) + final norm, patch tokens",
            "stride": PATCH,
            "patch_fit": fit,
        }

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return to_output_grid(self.vit(fit_to_patches(x, PATCH, self.fit)), h, w, PATCH)


def arch_of(spec: ModelSpec) -> str:
    m = re.fullmatch(r"dinov3-(vit[a-z0-9]+)", spec.name)
    if m is None or m.group(1) not in VARIANTS or spec.stride != PATCH:
        raise ConfigError(f"model {spec.name!r}: expected dinov3-<{'|'.join(VARIANTS)}> with stride 16")
    return m.group(1)


def expected_keys(arch: str) -> set[str]:
    """Every key of the released file of ``arch`` (parameters and the persistent buffers)."""
    _, depth, _, _, swiglu = VARIANTS[arch]
    linears = ["attn.qkv", "attn.proj", *(f"mlp.{n}" for n in (("w1", "w2", "w3") if swiglu else ("fc1", "fc2")))]
    block = [f"{m}.{p}" for m in ("norm1", "norm2", *linears) for p in ("weight", "bias")]
    block += ["attn.qkv.bias_mask", "ls1.gamma", "ls2.gamma"]
    top = ["cls_token", "storage_tokens", "mask_token", "rope_embed.periods", "patch_embed.proj.weight",
           "patch_embed.proj.bias", "norm.weight", "norm.bias"]
    return {*top, *(f"blocks.{i}.{k}" for i in range(depth) for k in block)}


def _check_dinov3(arch: str) -> Callable[[dict[str, Any], str], None]:
    """A one-line refusal of files that are not this arch's hub backbone (before the key-by-key check)."""
    dim, depth, _, _, swiglu = VARIANTS[arch]
    keys = expected_keys(arch)

    def check(state: dict[str, Any], source: str) -> None:
        cls = state.get("cls_token")
        width = int(cls.shape[-1]) if isinstance(cls, torch.Tensor) else 0
        blocks = {m.group(1) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
        others = [a for a, v in VARIANTS.items() if (v[0], v[1], v[4]) == (width, len(blocks), "blocks.0.mlp.w1.weight" in state)]
        why = ""
        if not {"storage_tokens", "rope_embed.periods", "blocks.0.attn.qkv.bias_mask"} <= state.keys():
            why = "it has no storage_tokens, rope_embed.periods or blocks.0.attn.qkv.bias_mask: another family's ViT or not a ViT"
        elif (width, len(blocks), "blocks.0.mlp.w1.weight" in state) != (dim, depth, swiglu):
            use = f"use --model dinov3-{others[0]}" if others else "no DINOv3 arch vosbench knows"
            why = f"it is {width} wide with {len(blocks)} blocks and {'a SwiGLU' if 'blocks.0.mlp.w1.weight' in state else 'an MLP'} FFN: {use}"
        else:
            missing, extra = sorted(keys - state.keys()), sorted(state.keys() - keys)
            if missing or extra:
                why = "; ".join(f"{title} keys {', '.join(ks[:4])}{' ...' if len(ks) > 4 else ''} ({len(ks)})"
                                for title, ks in (("missing", missing), ("unexpected", extra)) if ks)
        if why:
            raise CheckpointError(f"checkpoint {source} is not a {_expected(arch)}: {why}")

    return check


def _expected(arch: str) -> str:
    return f"DINOv3 hub backbone state dict ({DINOV3_FILES['dinov3-' + arch]})"


def dinov3_layout(arch: str) -> CheckpointLayout:
    """The released ``dinov3_<arch>_pretrain_lvd1689m-<hash>.pth``: a flat state dict of the backbone."""
    dim, depth, _, _, swiglu = VARIANTS[arch]
    return CheckpointLayout(
        weights_key="model",
        expected=f"a {_expected(arch)}",
        hint=f"expected DINOv3 keys (patch_embed.proj.*, cls_token, storage_tokens, mask_token, rope_embed.periods, "
        f"blocks.N.attn.qkv.bias_mask, blocks.N.ls1.gamma, blocks.N.mlp.{'w1/w2/w3' if swiglu else 'fc1/fc2'}, "
        f"norm.*) of width {dim}, depth {depth}",
        strip=(),
        check=_check_dinov3(arch),
        target="vit",
    )


def build_dinov3(
    spec: ModelSpec,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    layer: int = -1,
    fit: str = "crop",
    **options: Any,
) -> DinoV3Encoder:
    """Build a DINOv3 ViT/16 and load a released backbone file.

    Args:
        spec: The model's spec (name ``dinov3-<arch>``, stride 16, input_multiple 1).
        checkpoint: ``dinov3_<arch>_pretrain_lvd1689m-<hash>.pth``; ``None`` = random init with ``seed``
            (the catalog entries require the file: ``vosbench run`` says where to get it).
        seed: Seed of the random initialisation.
        layer: Block whose (final-normed) patch tokens are the features; -1 = the last.
        fit: ``crop`` (default) or ``pad`` the frame to a multiple of 16 (module docstring).
    """
    arch = arch_of(spec)
    return build_encoder(
        spec,
        lambda: DinoV3Encoder(spec, arch, layer=int(layer), fit=str(fit)),
        checkpoint,
        dinov3_layout(arch),
        seed=seed,
        options=options,
        valid_options=("seed", "layer", "fit"),
    )
