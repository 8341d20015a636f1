"""DINO ViTs (Caron et al., ICCV 2021, "Emerging Properties in Self-Supervised Vision Transformers").

A plain ViT restated from facebookresearch/dino (vision_transformer.py, eval_video_segmentation.py):
patch embedding (a conv with kernel = stride = patch size), a class token, learned positional
embeddings for a 224x224 input, pre-norm blocks (LayerNorm eps 1e-6 -> multi-head self-attention
with a biased qkv projection -> residual; LayerNorm -> MLP 4x with exact GELU -> residual), and a
final LayerNorm. The features are the output tokens of the last block after the final norm, class
token dropped, as a (D, H/p, W/p) map: what DINO's video-segmentation script takes from
``get_intermediate_layers(n=1)``.

Positional embeddings are resized the way DINO does it: unless the token grid is the stored
square one, the grid of embeddings is resized bicubically (align_corners False) with
``scale_factor = ((n + 0.1) / g)`` per axis, where n is the new grid side and g the stored one.
The scale factor itself (not the output size) sets PyTorch's sampling positions, so the +0.1 is
part of the result.

Why not timm's ``VisionTransformer``: its state-dict keys are the same as DINO's, but timm
resizes positional embeddings by output size with anti-aliasing (``resample_abs_pos_embed``,
``F.interpolate(size=..., antialias=True)``), which samples the embedding grid at different
positions than DINO's scale-factor formula and so gives different features at every input size
but 224x224. Its defaults also change between releases. The ~100 lines below pin the
computation. Attention uses ``F.scaled_dot_product_attention`` (the same softmax(QK^T/sqrt(d))V,
equal to the explicit product up to float rounding), so that ViT-B/8 on 480p frames does not
materialise a 12 x 6240 x 6240 attention matrix per image.

Checkpoints: the released backbone files (``dino_deitsmall16_pretrain.pth`` ...) are flat state
dicts in exactly these key names; ``*_full_checkpoint.pth`` training checkpoints hold them under
``'teacher'`` (default) or ``'student'`` with ``module.`` / ``backbone.`` prefixes and the DINO
projection head (``head.*``, ignored).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vosbench.core.errors import ConfigError
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import CheckpointLayout, build_encoder, load_weights

#: (embed_dim, depth, num_heads) of the released DINO ViTs, by size letter.
VARIANTS: dict[str, tuple[int, int, int]] = {"s": (384, 12, 6), "b": (768, 12, 12)}
IMG_SIZE = 224


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"ViT width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(head dim), as DINO
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def init_linears(module: nn.Module) -> None:
    """timm's ViT initialisation of every linear layer: truncated normal (std 0.02), zero bias."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)


class VisionTransformer(nn.Module):
    """DINO's ViT backbone without a classifier; :meth:`forward` returns the patch-token map."""

    def __init__(self, patch_size: int, embed_dim: int, depth: int, num_heads: int, img_size: int = IMG_SIZE):
        super().__init__()
        self.patch_size = patch_size
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        init_linears(self)

    def pos_embed_for(self, gh: int, gw: int) -> torch.Tensor:
        """Positional embeddings (1, 1 + gh*gw, D) for a gh x gw token grid, resized as DINO does."""
        n = self.pos_embed.shape[1] - 1
        g = int(math.sqrt(n))
        if gh == g and gw == g:
            return self.pos_embed
        dim = self.pos_embed.shape[-1]
        grid = self.pos_embed[:, 1:].reshape(1, g, g, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((gh + 0.1) / g, (gw + 0.1) / g), mode="bicubic")
        if grid.shape[-2:] != (gh, gw):  # the +0.1 guards against this; keep the check explicit
            raise RuntimeError(f"positional embedding resized to {tuple(grid.shape[-2:])}, wanted {(gh, gw)}")
        grid = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, dim)
        return torch.cat([self.pos_embed[:, :1], grid], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        tokens = self.patch_embed(x)  # (B, D, gh, gw)
        gh, gw = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1) + self.pos_embed_for(gh, gw)
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens)[:, 1:]
        return tokens.transpose(1, 2).reshape(b, -1, gh, gw)


class DinoEncoder(Encoder):
    """A DINO ViT as an :class:`Encoder`; the backbone sits under ``self.vit``."""

    def __init__(self, spec: ModelSpec, embed_dim: int, depth: int, num_heads: int):
        super().__init__(spec)
        if spec.input_multiple != spec.stride:
            raise ConfigError(f"model {spec.name!r}: input_multiple must equal the patch size {spec.stride}")
        self.vit = VisionTransformer(spec.stride, embed_dim, depth, num_heads)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit(x)


def variant_of(spec: ModelSpec) -> tuple[int, int, int]:
    """(embed_dim, depth, num_heads) from a name ending in ``vits<p>`` or ``vitb<p>``."""
    m = re.search(r"vit([sb])(\d+)$", spec.name)
    if m is None or int(m.group(2)) != spec.stride:
        raise ConfigError(f"model {spec.name!r}: name must end in vits<patch> or vitb<patch> matching its stride")
    return VARIANTS[m.group(1)]


def dino_layout(dim: int, depth: int, patch: int, checkpoint_key: str = "teacher") -> CheckpointLayout:
    """How DINO files hold a backbone of width ``dim``, ``depth`` blocks and ``patch`` size: flat
    (``dino_*_pretrain.pth``) or under ``checkpoint_key`` of a full training checkpoint, with
    ``module.``/``backbone.`` prefixes and a ``head``."""
    return CheckpointLayout(
        weights_key=checkpoint_key,
        expected="a DINO backbone state dict (dino_*_pretrain.pth) or a full checkpoint with 'teacher'",
        hint=f"expected DINO ViT keys (patch_embed.proj.*, cls_token, pos_embed, blocks.*, norm.*) "
        f"of width {dim}, depth {depth}, patch {patch}",
        strip=("module.", "backbone."),
        drop_prefixes=("head.",),
        target="vit",
    )


def load_dino_state(enc: DinoEncoder, checkpoint: str | Path, checkpoint_key: str = "teacher") -> None:
    """Load a DINO backbone file or full training checkpoint into ``enc`` strictly."""
    layout = dino_layout(enc.vit.pos_embed.shape[-1], len(enc.vit.blocks), enc.vit.patch_size, checkpoint_key)
    load_weights(enc, checkpoint, layout)


def build_dino(
    spec: ModelSpec,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    checkpoint_key: str = "teacher",
    **options: Any,
) -> DinoEncoder:
    """Build a DINO ViT and load its weights.

    Args:
        spec: The model's spec (stride = input multiple = patch size, std 0.228 for red).
        checkpoint: Flat backbone state dict or a ``*_full_checkpoint.pth``. ``None`` gives a
            random initialisation with ``seed`` (used by tests; ``create_model`` requires a file).
        seed: Seed of the random initialisation.
        checkpoint_key: Entry of a full checkpoint to use (``teacher`` as in DINO's evaluation,
            or ``student``).
    """
    dim, depth, heads = variant_of(spec)
    return build_encoder(
        spec,
        lambda: DinoEncoder(spec, dim, depth, heads),
        checkpoint,
        dino_layout(dim, depth, spec.stride, checkpoint_key),
        seed=seed,
        options=options,
        valid_options=("seed", "checkpoint_key"),
    )
