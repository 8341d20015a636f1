"""DINOv2 ViTs /14, with and without registers (Oquab et al., TMLR 2024; Darcet et al., ICLR 2024).

Restated from facebookresearch/dinov2 (``dinov2/models/vision_transformer.py``, ``dinov2/layers/``,
``dinov2/hub/backbones.py``), which vosbench does not import:

* the hub backbones are ``DinoVisionTransformer(img_size=518, patch_size=14, init_values=1.0,
  block_chunks=0)``: a conv patch embedding, a class token, learned positional embeddings for a
  37x37 grid + class token, optional register tokens (4 in the ``_reg4`` files) inserted after the
  class token *after* the positional embeddings are added, pre-norm blocks (LayerNorm eps 1e-6 ->
  attention with a biased qkv -> LayerScale ``ls1.gamma`` -> residual; LayerNorm -> MLP 4x with
  exact GELU, or SwiGLU for ViT-g -> LayerScale ``ls2.gamma`` -> residual), a final LayerNorm and
  an unused ``mask_token``;
* positional embeddings are resized as ``interpolate_pos_encoding`` does: kept as stored only for a
  square 37x37 grid; otherwise bicubic (align_corners False) from the float32 grid, with
  ``scale_factor = ((gh + offset) / 37, (gw + offset) / 37)`` when ``interpolate_offset`` is set
  (0.1, the models without registers) and with the output size and ``antialias=True`` for the
  register models (``interpolate_antialias=True, interpolate_offset=0.0`` in ``backbones.py``).

Features: by default the patch tokens of the last block after the final norm (class and register
tokens dropped), what ``get_intermediate_layers(x, n=1, norm=True)`` returns and what DINO's
video-segmentation script reads from a ViT; ``layer=i`` reads block ``i`` (0-based, negative from
the end) after the same final norm, as ``get_intermediate_layers(x, n=[i])``.

Frame sizes: the official patch embedding refuses sizes that are not multiples of 14. By default
(``fit=crop``) the frame's right and bottom remainder (< 14 px) is cropped before the ViT, as
dinov2 issue #77 advises; the output keeps every vosbench encoder's grid, ceil(H/14) x ceil(W/14),
by giving the cropped strip the features of the last token row/column (edge replication). With
``fit=pad`` the normalised frame is padded by edge replication to the next multiple instead (what
vosbench does for DINO ViTs). The choice is in the run record's model features.
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
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, strip_prefix
from vosbench.models.dino import Attention, Mlp, PatchEmbed, init_linears

#: (embed_dim, depth, num_heads) of ``vit_small/base/large/giant2`` in the official code.
VARIANTS: dict[str, tuple[int, int, int]] = {
    "s": (384, 12, 6),
    "b": (768, 12, 12),
    "l": (1024, 24, 16),
    "g": (1536, 40, 24),
}
PATCH = 14
IMG_SIZE = 518  # 37 x 37 patches
FITS = ("crop", "pad")


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class SwiGLU(nn.Module):
    """ViT-g's feed-forward: ``w3(silu(a) * b)`` with ``a, b = w12(x).chunk(2)``; hidden width
    ``(int(4 * dim * 2 / 3) + 7) // 8 * 8`` as ``SwiGLUFFNFused``."""

    def __init__(self, dim: int):
        super().__init__()
        hidden = (int(4 * dim * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, swiglu: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp: nn.Module = SwiGLU(dim) if swiglu else Mlp(dim, 4 * dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2Transformer(nn.Module):
    """The hub backbone's parameters (same names) and its feature path; returns a token map."""

    def __init__(self, dim: int, depth: int, heads: int, registers: int, swiglu: bool, layer: int = -1):
        super().__init__()
        if not -depth <= layer < depth:
            raise ConfigError(f"layer {layer} out of range: this ViT has {depth} blocks (0..{depth - 1})")
        self.layer = layer % depth
        self.num_register_tokens = registers
        # the register models resize by output size with anti-aliasing, the others by scale factor
        self.interpolate_offset = 0.0 if registers else 0.1
        self.interpolate_antialias = bool(registers)
        self.patch_embed = PatchEmbed(PATCH, dim)
        grid = IMG_SIZE // PATCH
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, registers, dim)) if registers else None
        self.blocks = nn.ModuleList(Block(dim, heads, swiglu) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # masked training only; stored in the files
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        init_linears(self)

    def pos_embed_for(self, gh: int, gw: int) -> torch.Tensor:
        """Positional embeddings (1, 1 + gh*gw, D) for a gh x gw grid, as ``interpolate_pos_encoding``."""
        n = self.pos_embed.shape[1] - 1
        g = int(math.sqrt(n))
        if gh * gw == n and gh == gw:
            return self.pos_embed
        pos = self.pos_embed.float()
        dim = pos.shape[-1]
        grid = pos[:, 1:].reshape(1, g, g, dim).permute(0, 3, 1, 2)
        if self.interpolate_offset:
            scale = ((gh + self.interpolate_offset) / g, (gw + self.interpolate_offset) / g)
            grid = F.interpolate(grid, scale_factor=scale, mode="bicubic", antialias=self.interpolate_antialias)
        else:
            grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", antialias=self.interpolate_antialias)
        if grid.shape[-2:] != (gh, gw):
            raise RuntimeError(f"positional embedding resized to {tuple(grid.shape[-2:])}, wanted {(gh, gw)}")
        grid = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, dim)
        return torch.cat([pos[:, :1], grid], dim=1).to(self.pos_embed.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        tokens = self.patch_embed(x)  # (B, D, gh, gw)
        gh, gw = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1) + self.pos_embed_for(gh, gw)
        if self.register_tokens is not None:
            regs = self.register_tokens.expand(b, -1, -1)
            tokens = torch.cat([tokens[:, :1], regs, tokens[:, 1:]], dim=1)
        for block in self.blocks[: self.layer + 1]:
            tokens = block(tokens)
        tokens = self.norm(tokens)[:, 1 + self.num_register_tokens :]
        return tokens.transpose(1, 2).reshape(b, -1, gh, gw)


def fit_to_patches(x: torch.Tensor, patch: int, fit: str) -> torch.Tensor:
    """Crop (right/bottom remainder) or edge-pad ``x`` to a multiple of ``patch``."""
    h, w = x.shape[-2:]
    if fit == "pad":
        return F.pad(x, (0, (-w) % patch, 0, (-h) % patch), mode="replicate") if h % patch or w % patch else x
    if h < patch or w < patch:
        raise ConfigError(f"a {h}x{w} frame is smaller than one {patch}x{patch} patch; nothing is left to crop to")
    return x[..., : h // patch * patch, : w // patch * patch]


def to_output_grid(f: torch.Tensor, h: int, w: int, stride: int) -> torch.Tensor:
    """Token map -> the (ceil(h/s), ceil(w/s)) grid: crop extra cells, replicate edges for missing ones."""
    oh, ow = math.ceil(h / stride), math.ceil(w / stride)
    f = f[..., :oh, :ow]
    gh, gw = f.shape[-2:]
    if (gh, gw) != (oh, ow):
        f = F.pad(f, (0, ow - gw, 0, oh - gh), mode="replicate")
    return f


class DinoV2Encoder(Encoder):
    """A DINOv2 hub backbone as an :class:`Encoder`; the backbone sits under ``self.vit``."""

    def __init__(self, spec: ModelSpec, size: str, registers: int, layer: int = -1, fit: str = "crop"):
        super().__init__(spec)
        if fit not in FITS:
            raise ConfigError(f"model {spec.name!r}: fit={fit!r}; expected one of {', '.join(FITS)}")
        self.fit = fit
        self.vit = DinoV2Transformer(*VARIANTS[size], registers, swiglu=size == "g", layer=layer)
        depth = len(self.vit.blocks)
        self.feature_info = {
            "layer": f"block {self.vit.layer} of {depth} (0-based) + final norm, patch tokens",
            "stride": PATCH,
            "patch_fit": fit,
        }

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return to_output_grid(self.vit(fit_to_patches(x, PATCH, self.fit)), h, w, PATCH)


def variant_of(spec: ModelSpec) -> tuple[str, int]:
    """(size letter, register tokens) from a name ``dinov2-vit<s|b|l|g>14`` (+ ``-reg``)."""
    m = re.fullmatch(r"dinov2-vit([sblg])14(-reg)?", spec.name)
    if m is None or spec.stride != PATCH:
        raise ConfigError(f"model {spec.name!r}: expected a name dinov2-vit<s|b|l|g>14[-reg] with stride 14")
    return m.group(1), 4 if m.group(2) else 0


def _check_dinov2(size: str, registers: int) -> Callable[[dict[str, Any], str], None]:
    """A one-line refusal of files that are not this model's hub backbone (before the key-by-key check)."""
    dim = VARIANTS[size][0]
    names = {d: s for s, (d, _, _) in VARIANTS.items()}

    def check(state: dict[str, Any], source: str) -> None:
        keys = strip_prefix(state, ("module.", "backbone."))
        why = ""
        pos = keys.get("pos_embed")
        width = int(pos.shape[-1]) if isinstance(pos, torch.Tensor) and pos.ndim == 3 else 0
        if "blocks.0.ls1.gamma" not in keys or "mask_token" not in keys:
            why = "it has no LayerScale (blocks.0.ls1.gamma) or mask_token: another family's ViT or not a ViT"
        elif ("register_tokens" in keys) != bool(registers):
            other = f"dinov2-vit{size}14" + ("" if registers else "-reg")
            why = f"it {'lacks' if registers else 'has'} register_tokens: use --model {other}"
        elif width != dim:
            other = f"--model dinov2-vit{names[width]}14{'-reg' if registers else ''}" if width in names else "another model"
            why = f"its width is {width}, not {dim}: use {other}"
        if why:
            raise CheckpointError(f"checkpoint {source} is not a {_expected(size, registers)}: {why}")

    return check


def _expected(size: str, registers: int) -> str:
    return f"DINOv2 hub backbone state dict (dinov2_vit{size}14{'_reg4' if registers else ''}_pretrain.pth)"


def dinov2_layout(size: str, registers: int) -> CheckpointLayout:
    """The hub's ``dinov2_vit*14[_reg4]_pretrain.pth``: a flat state dict of the backbone."""
    dim, depth, _ = VARIANTS[size]
    return CheckpointLayout(
        weights_key="teacher",
        expected=f"a {_expected(size, registers)}",
        hint=f"expected DINOv2 keys (patch_embed.proj.*, cls_token, pos_embed of 1370 tokens, "
        f"{'register_tokens, ' if registers else ''}mask_token, blocks.N.ls1.gamma, norm.*) of width {dim}, "
        f"depth {depth}{' with 4 register tokens' if registers else ', no register tokens'}",
        strip=("module.", "backbone."),
        check=_check_dinov2(size, registers),
        target="vit",
    )


def build_dinov2(
    spec: ModelSpec,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    layer: int = -1,
    fit: str = "crop",
    **options: Any,
) -> DinoV2Encoder:
    """Build a DINOv2 ViT/14 and load a hub backbone file.

    Args:
        spec: The model's spec (name ``dinov2-vit<s|b|l|g>14[-reg]``, stride 14, input_multiple 1).
        checkpoint: ``dinov2_vit*14[_reg4]_pretrain.pth``; ``None`` = random init with ``seed``.
        seed: Seed of the random initialisation.
        layer: Block whose (final-normed) patch tokens are the features; -1 = the last.
        fit: ``crop`` (default) or ``pad`` the frame to a multiple of 14 (module docstring).
    """
    size, registers = variant_of(spec)
    return build_encoder(
        spec,
        lambda: DinoV2Encoder(spec, size, registers, layer=int(layer), fit=str(fit)),
        checkpoint,
        dinov2_layout(size, registers),
        seed=seed,
        options=options,
        valid_options=("seed", "layer", "fit"),
    )
