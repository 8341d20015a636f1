"""Any timm or Hugging Face backbone by name: ``--model timm:<name>`` and ``--model hf:<repo id or folder>``.

Both libraries are optional extras (``pip install 'vosbench[timm]'`` / ``'vosbench[hf]'``); a missing one is
named in a one-line error. The spec of such a model is made on first use (the registry asks
:func:`timm_spec` / :func:`hf_spec`), from the model's own description: the stride and width of the layer
read, its input normalisation.

Features (``--option layer=...``, default the last):

* timm: ``forward_intermediates(indices=[layer], norm=True)`` of the model's ``feature_info`` entry
  ``layer`` (an index, negative from the end, or the entry's module name: ``blocks.10``, ``layer3``). For
  a ViT this is the block's patch tokens after the final norm, prefix tokens dropped, with timm resizing
  the positional embeddings to the grid (``dynamic_img_size=True``, timm's ``resample_abs_pos_embed``;
  not the DINOv2 hub rule: use ``dinov2-*`` for that). For a CNN, the stage output.
* Hugging Face (ViT-like ``AutoModel``s with a ``patch_size``): ``hidden_states[layer + 1]`` after the
  model's final ``layernorm``, class and register tokens dropped, ``interpolate_pos_encoding=True``
  where the model takes it (the library's own rule, which depends on its version: recorded).

Patch multiples (ViTs): the frame's right/bottom remainder is cropped (``fit=crop``, default) or the
frame is padded by edge replication (``fit=pad``), as :mod:`vosbench.models.dinov2`. CNNs get vosbench's
usual edge padding to their stride. Weights: ``--checkpoint FILE`` (a timm state dict, strictly), else
the library's cache or the hub (``pretrained``), or ``--option pretrained=false`` for a seeded random
init. What was read and how is in the run record's ``model.features``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from vosbench.core.errors import ConfigError
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder
from vosbench.models.checkpoints import _first_line, load_checkpoint_file, load_strict, pick_state_dict
from vosbench.models.dinov2 import FITS, fit_to_patches, to_output_grid

IMAGENET: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def need(module: str, extra: str) -> ModuleType:
    """Import an optional library or say, in one line, which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"--model {extra}:... needs the optional package {module!r}: pip install 'vosbench[{extra}]'"
        ) from None


def _create_timm(arch: str, pretrained: bool) -> nn.Module:
    timm = need("timm", "timm")
    try:
        try:
            return timm.create_model(arch, pretrained=pretrained, dynamic_img_size=True)
        except TypeError:  # not a ViT: no dynamic_img_size argument
            return timm.create_model(arch, pretrained=pretrained)
    except Exception as e:  # noqa: BLE001 - unknown names, offline hub, missing cache: one line
        how = "; give --checkpoint FILE or --option pretrained=false" if pretrained else ""
        raise ConfigError(f"timm cannot build {arch!r}: {_first_line(e)}{how}") from None


def _features(net: nn.Module) -> list[dict[str, Any]]:
    """timm's ``feature_info``: one dict (module, num_chs, reduction) per readable layer."""
    return [dict(f) for f in getattr(net, "feature_info")]


def _is_vit(net: nn.Module) -> bool:
    return hasattr(net, "patch_embed") and hasattr(net, "blocks")


def _layer_index(modules: list[str], layer: int | str) -> int:
    """Index into a list of layer names from an int (negative from the end) or a name."""
    if isinstance(layer, str) and not layer.lstrip("-").isdigit():
        if layer not in modules:
            raise ConfigError(f"layer {layer!r} is not one of {', '.join(modules)}")
        return modules.index(layer)
    i = int(layer)
    if not -len(modules) <= i < len(modules):
        raise ConfigError(f"layer {i} out of range: the model has {len(modules)} layers to read (0..{len(modules) - 1})")
    return i % len(modules)


def timm_spec(name: str) -> ModelSpec:
    """The spec of ``timm:<arch>`` (its last feature layer), read from a meta-device instance."""
    arch = name.split(":", 1)[1]
    with torch.device("meta"):
        net = _create_timm(arch, pretrained=False)
    info = _features(net)[-1]
    cfg: dict[str, Any] = getattr(net, "pretrained_cfg", None) or {}
    stride = int(info["reduction"])
    return ModelSpec(
        name=name,
        description=f"timm {arch}: {info['module']} (stride {stride}, {info['num_chs']} ch); --option layer=...",
        factory="vosbench.models.hub:build_timm",
        stride=stride,
        channels=int(info["num_chs"]),
        mean=tuple(cfg.get("mean", IMAGENET[0])),
        std=tuple(cfg.get("std", IMAGENET[1])),
        native_protocol="crw",
        checkpoint="optional",
        input_multiple=1 if _is_vit(net) else stride,
        paper=f"timm model {arch} (huggingface/pytorch-image-models); see its model card",
        license=str(cfg.get("license", "see the model card")),
    )


class HubEncoder(Encoder):
    """A library backbone read at one layer; ``read(x)`` gives its (B, C, h', w') token or feature map."""

    def __init__(self, spec: ModelSpec, net: nn.Module, vit: bool, fit: str, info: dict[str, Any]):
        super().__init__(spec)
        if fit not in FITS:
            raise ConfigError(f"model {spec.name!r}: fit={fit!r}; expected one of {', '.join(FITS)}")
        self.net, self.vit, self.fit = net, vit, fit
        self.feature_info = {**info, "stride": spec.stride, "patch_fit": fit if vit else "pad (CNN)"}

    def read(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if not self.vit:
            return self.read(x)
        h, w = x.shape[-2:]
        return to_output_grid(self.read(fit_to_patches(x, self.stride, self.fit)), h, w, self.stride)


class TimmEncoder(HubEncoder):
    def __init__(self, spec: ModelSpec, net: nn.Module, index: int, fit: str, info: dict[str, Any]):
        super().__init__(spec, net, _is_vit(net), fit, info)
        self.index = index

    def read(self, x: torch.Tensor) -> torch.Tensor:
        fwd = getattr(self.net, "forward_intermediates")
        kwargs = {"norm": True} if self.vit else {}
        return fwd(x, indices=[self.index], intermediates_only=True, output_fmt="NCHW", **kwargs)[0]


def _with_seed(seed: int, make: Any) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return make()


def build_timm(
    spec: ModelSpec,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    layer: int | str = -1,
    fit: str = "crop",
    pretrained: bool = True,
    **options: Any,
) -> TimmEncoder:
    """Build ``timm:<arch>`` read at ``layer`` (module docstring); ``--checkpoint`` loads a state dict strictly."""
    if options:
        raise ConfigError(f"model {spec.name!r}: unknown options {', '.join(options)} (valid: seed, layer, fit, pretrained)")
    arch = spec.name.split(":", 1)[1]
    from_hub = bool(pretrained) and checkpoint is None
    net = _with_seed(seed, lambda: _create_timm(arch, pretrained=from_hub))
    if checkpoint is not None:
        state = pick_state_dict(load_checkpoint_file(checkpoint), ("state_dict", "model"), source=str(checkpoint),
                                expected=f"a timm {arch} state dict")
        load_strict(net, state, source=str(checkpoint), hint=f"expected the state dict of timm's {arch}")
    feats = _features(net)
    i = _layer_index([str(f["module"]) for f in feats], layer)
    stride, channels = int(feats[i]["reduction"]), int(feats[i]["num_chs"])
    vit = _is_vit(net)
    spec = dataclasses.replace(spec, stride=stride, channels=channels, input_multiple=1 if vit else stride)
    timm = need("timm", "timm")
    weights = "checkpoint file" if checkpoint is not None else ("timm pretrained (cache or hub)" if from_hub else f"random init (seed {seed})")
    info = {
        "library": f"timm {timm.__version__}",
        "layer": f"{feats[i]['module']} (index {i} of {len(feats)})" + (" + final norm, patch tokens" if vit else ""),
        "pos_embed": "timm resample_abs_pos_embed to the token grid" if vit else "none",
        "weights": weights,
    }
    return TimmEncoder(spec, net, i, str(fit), info).eval()


Triple = tuple[float, float, float]


def _hf_processor_norm(transformers: ModuleType, repo: str) -> tuple[Triple, Triple, str]:
    try:
        proc = transformers.AutoImageProcessor.from_pretrained(repo)
        mean, std = proc.image_mean, proc.image_std
        return (mean[0], mean[1], mean[2]), (std[0], std[1], std[2]), "the model's image processor"
    except Exception:  # noqa: BLE001 - no processor config: ImageNet statistics, and the record says so
        return IMAGENET[0], IMAGENET[1], "ImageNet (no image processor found)"


def hf_spec(name: str) -> ModelSpec:
    """The spec of ``hf:<repo id or local folder>`` (its last layer), from the model's config."""
    repo = name.split(":", 1)[1]
    transformers = need("transformers", "hf")
    try:
        cfg = transformers.AutoConfig.from_pretrained(repo)
    except Exception as e:  # noqa: BLE001 - unknown id, offline without cache
        raise ConfigError(
            f"transformers cannot read the config of {repo!r}: {_first_line(e)} Offline, give a folder saved "
            "with save_pretrained (--model hf:/path/to/folder) or set HF_HUB_OFFLINE=1 to use only the local cache."
        ) from None
    patch = getattr(cfg, "patch_size", None)
    if not isinstance(patch, int) or not hasattr(cfg, "hidden_size"):
        raise ConfigError(f"hf:{repo}: only ViT-like models (a config with patch_size and hidden_size) are supported")
    mean, std, _ = _hf_processor_norm(transformers, repo)
    return ModelSpec(
        name=name,
        description=f"Hugging Face {repo} ({cfg.model_type}): last layer + final norm, patch tokens "
        f"(stride {patch}, {cfg.hidden_size} ch); --option layer=...",
        factory="vosbench.models.hub:build_hf",
        stride=patch,
        channels=int(cfg.hidden_size),
        mean=mean,
        std=std,
        native_protocol="crw",
        checkpoint="optional",
        paper=f"Hugging Face model {repo}; see its model card",
        license="see the model card",
    )


class HFEncoder(HubEncoder):
    def __init__(self, spec: ModelSpec, net: nn.Module, index: int, fit: str, info: dict[str, Any]):
        super().__init__(spec, net, True, fit, info)
        self.index = index
        cfg = getattr(net, "config")
        self.prefix = 1 + int(getattr(cfg, "num_register_tokens", 0) or 0)
        self.norm = getattr(net, "layernorm", None)
        params = inspect.signature(net.forward).parameters
        self.kwargs = {"interpolate_pos_encoding": True} if "interpolate_pos_encoding" in params else {}

    def read(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(pixel_values=x, output_hidden_states=True, **self.kwargs)
        t = out.hidden_states[self.index + 1]
        if self.norm is not None:
            t = self.norm(t)
        gh, gw = x.shape[-2] // self.stride, x.shape[-1] // self.stride
        t = t[:, self.prefix :]
        return t.transpose(1, 2).reshape(x.shape[0], -1, gh, gw)


def build_hf(
    spec: ModelSpec,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    layer: int | str = -1,
    fit: str = "crop",
    **options: Any,
) -> HFEncoder:
    """Build ``hf:<repo id or folder>`` read at ``layer``; the weights come with the id (hub, cache or folder)."""
    if options:
        raise ConfigError(f"model {spec.name!r}: unknown options {', '.join(options)} (valid: seed, layer, fit)")
    repo = spec.name.split(":", 1)[1]
    if checkpoint is not None:
        raise ConfigError(f"{spec.name}: Hugging Face weights come with the id; give a local folder as hf:/path/to/folder")
    transformers = need("transformers", "hf")
    try:
        net = _with_seed(seed, lambda: transformers.AutoModel.from_pretrained(repo))
    except Exception as e:  # noqa: BLE001 - one line for a missing or unreadable model
        raise ConfigError(f"transformers cannot load {repo!r}: {_first_line(e)}") from None
    n = int(net.config.num_hidden_layers)
    i = _layer_index([str(k) for k in range(n)], layer)
    _, _, norm_from = _hf_processor_norm(transformers, repo)
    info = {
        "library": f"transformers {transformers.__version__}",
        "layer": f"hidden_states[{i + 1}] (layer {i} of {n}) + final layernorm, patch tokens",
        "pos_embed": "transformers interpolate_pos_encoding (the library's rule)",
        "normalisation": norm_from,
        "weights": f"from_pretrained({repo!r})",
    }
    return HFEncoder(spec, net, i, str(fit), info).eval()
