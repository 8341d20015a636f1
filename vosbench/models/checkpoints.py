"""Loading checkpoint files strictly, with errors that say what went wrong.

``torch.load`` is always called with ``weights_only=True``: checkpoints are data, not code.
The only non-tensor class vosbench lets through is :class:`argparse.Namespace`, which training
scripts (CRW, DINO) store under ``'args'``; it holds plain values and runs no code. Any other
Python class in a file is refused with a message that names it and says how to extract the
weights from a file one trusts. vosbench never falls back to ``weights_only=False``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from vosbench.core.digest import sha256_file as sha256_file  # re-exported: the run record's checkpoint hash
from vosbench.core.errors import CheckpointError, ConfigError
from vosbench.core.specs import ModelSpec

#: Classes allowed in checkpoint files besides what ``weights_only=True`` accepts by default.
SAFE_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


def load_checkpoint_file(path: str | os.PathLike[str], *, weights_key: str | None = None) -> Any:
    """``torch.load`` a checkpoint on the CPU with ``weights_only=True``.

    Args:
        path: Checkpoint file.
        weights_key: Top-level key holding the weights (``'model'``, ``'state_dict'``), used only
            to word the advice when the file holds a Python class that is not allowed.

    Raises:
        CheckpointError: The file is missing, unreadable, or contains a Python class other than
            tensors, containers, plain values and ``argparse.Namespace``.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} not found")
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = _unsafe_globals(p, str(e))
        if not found:
            raise CheckpointError(f"cannot load checkpoint {p}: {_first_line(e)}") from None
        pick = f"c[{weights_key!r}]" if weights_key else "c"
        raise CheckpointError(
            f"checkpoint {p} contains Python objects of type {', '.join(found)}, which vosbench does "
            f"not unpickle: it loads checkpoints with weights_only=True so that a file can never run "
            f"code. If you trust this file, extract its weights once into a plain file and pass that "
            f"instead:\n  python -c \"import torch; c = torch.load('{p}', weights_only=False); "
            f"torch.save({pick}, '{p.with_suffix('.weights.pth')}')\""
        ) from None
    except Exception as e:  # noqa: BLE001 - torch raises many types here (zip, EOF, runtime)
        raise CheckpointError(
            f"cannot load checkpoint {p}: {_first_line(e)} (is it a PyTorch checkpoint, and complete?)"
        ) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unsafe_globals(path: Path, message: str) -> list[str]:
    """Names of the classes/functions in ``path`` that weights-only loading refuses."""
    names: list[str] = []
    finder = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if finder is not None:
        try:
            allowed = {f"{c.__module__}.{c.__qualname__}" for c in SAFE_GLOBALS}
            names = [n for n in finder(path) if n not in allowed]
        except Exception:  # noqa: BLE001 - legacy (non-zip) files are not supported by the finder
            names = []
    if not names:
        names = re.findall(r"Unsupported global: GLOBAL ([\w.]+)", message)
    return sorted(set(names))


def pick_state_dict(obj: Any, keys: tuple[str, ...], *, source: str, expected: str) -> dict[str, Any]:
    """The state dict inside a loaded checkpoint.

    Args:
        obj: What :func:`load_checkpoint_file` returned.
        keys: Top-level keys that may hold the state dict, tried in order (``'model'``).
        source: File name for messages.
        expected: Description of the expected file, for messages.

    Returns:
        ``obj[key]`` for the first key present, or ``obj`` itself when it is already a flat
        mapping of names to tensors.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {source} holds a {type(obj).__name__}, not a dict; expected {expected}")
    for key in keys:
        if key in obj:
            inner = obj[key]
            if not isinstance(inner, Mapping):
                raise CheckpointError(
                    f"checkpoint {source}: entry {key!r} is a {type(inner).__name__}, not a state dict"
                )
            return dict(inner)
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj)
    shown = ", ".join(repr(k) for k in list(obj)[:10])
    wanted = " or ".join(repr(k) for k in keys)
    raise CheckpointError(
        f"checkpoint {source} has top-level keys {shown}, but no {wanted} entry and no flat state dict; "
        f"expected {expected}"
    )


def strip_prefix(state: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Remove any of ``prefixes`` (repeatedly, e.g. ``module.backbone.``) from every key."""
    out = {}
    for k, v in state.items():
        changed = True
        while changed:
            changed = False
            for p in prefixes:
                if k.startswith(p):
                    k = k[len(p) :]
                    changed = True
        out[k] = v
    return out


def load_strict(
    module: nn.Module,
    state: Mapping[str, Any],
    *,
    source: str,
    ignore: tuple[str, ...] = ("num_batches_tracked",),
    drop_prefixes: tuple[str, ...] = (),
    hint: str = "",
) -> None:
    """Load ``state`` into ``module``; refuse on any missing, unexpected or mis-shaped key.

    Args:
        module: Target module.
        state: State dict (already un-prefixed).
        source: File name for messages.
        ignore: Key suffixes that may be missing or extra (``num_batches_tracked``).
        drop_prefixes: Keys starting with these are expected extras (a removed layer, a head)
            and are dropped silently.
        hint: Extra advice appended to the error.
    """
    own = module.state_dict()
    state = {k: v for k, v in state.items() if not any(k.startswith(p) for p in drop_prefixes)}
    missing = [k for k in own if k not in state and not k.endswith(ignore)]
    unexpected = [k for k in state if k not in own and not k.endswith(ignore)]
    misshaped = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or misshaped:
        lines = [f"checkpoint {source} does not match the model:"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
                lines.append(f"  {title} keys: {shown}")
        causes = []
        if any(k.startswith("module.") for k in unexpected):
            causes.append("keys carry the 'module.' prefix of nn.DataParallel")
        if unexpected and not missing:
            causes.append("a training checkpoint with extra heads")
        if missing and unexpected:
            causes.append("a checkpoint of a different model (check --model)")
        if misshaped and not (missing or unexpected):
            causes.append("the same architecture at another size (e.g. ViT-B weights for a ViT-S model)")
        if causes:
            lines.append("  likely cause: " + "; or ".join(causes))
        if hint:
            lines.append("  " + hint)
        raise CheckpointError("\n".join(lines))
    to_load = {k: v for k, v in state.items() if k in own}
    module.load_state_dict(to_load, strict=False)


@dataclass(frozen=True)
class CheckpointLayout:
    """How an official checkpoint file holds a model's weights (what :func:`build_encoder` loads).

    Attributes:
        weights_key: Entry of a training checkpoint holding the state dict (``'model'``,
            ``'state_dict'``, ``'teacher'``); a flat state dict is accepted too.
        expected: What the file should be, for messages.
        hint: Expected key names for a mismatch error, or a function of the state dict giving it.
        strip: Key prefixes removed first (``module.`` of nn.DataParallel, ...).
        convert: Renames keys from the file's layout to the target module's.
        check: Refuses a file of the wrong format early (raises :class:`CheckpointError`).
        drop_prefixes: Keys the target does not have by design (a removed layer, a head).
        target: Name of the submodule the state dict loads into (default: the encoder itself).
        wrapped_only: Refuse a flat state dict: the file must hold ``weights_key`` (tells a
            ``{'model': ...}`` file from another family's flat file with the same key names).
    """

    weights_key: str
    expected: str
    hint: str | Callable[[Mapping[str, Any]], str] = ""
    strip: tuple[str, ...] = ("module.",)
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    check: Callable[[dict[str, Any], str], None] | None = None
    drop_prefixes: tuple[str, ...] = ()
    target: str = ""
    wrapped_only: bool = False


def load_weights(encoder: nn.Module, checkpoint: str | os.PathLike[str], layout: CheckpointLayout) -> None:
    """Load ``checkpoint`` into ``encoder`` as ``layout`` says, strictly (see :func:`load_strict`)."""
    source = str(checkpoint)
    obj = load_checkpoint_file(checkpoint, weights_key=layout.weights_key)
    if layout.wrapped_only and not (isinstance(obj, Mapping) and layout.weights_key in obj):
        raise CheckpointError(
            f"checkpoint {source} has no {layout.weights_key!r} entry (a flat state dict of another family?); "
            f"expected {layout.expected}"
        )
    state = pick_state_dict(
        obj,
        (layout.weights_key,),
        source=source,
        expected=layout.expected,
    )
    if layout.check is not None:
        layout.check(state, source)
    state = strip_prefix(state, layout.strip)
    if layout.convert is not None:
        state = layout.convert(state)
    hint = layout.hint(state) if callable(layout.hint) else layout.hint
    module = encoder.get_submodule(layout.target) if layout.target else encoder
    load_strict(module, state, source=source, drop_prefixes=layout.drop_prefixes, hint=hint)


E = TypeVar("E", bound=nn.Module)


def build_encoder(
    spec: ModelSpec,
    make: Callable[[], E],
    checkpoint: str | os.PathLike[str] | None,
    layout: CheckpointLayout,
    *,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    valid_options: tuple[str, ...] = ("seed",),
) -> E:
    """The one way built-in models are built (in the spirit of timm's ``build_model_with_cfg``).

    Refuses options the model does not take, initialises ``make()`` from ``seed`` without touching
    the global random state, loads ``checkpoint`` (when given) as ``layout`` says, and returns the
    encoder in eval mode with ``checkpoint_path`` set.
    """
    if options:
        raise ConfigError(
            f"model {spec.name!r}: unknown options {', '.join(options)} (valid: {', '.join(valid_options)})"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        enc = make()
    if checkpoint is not None:
        load_weights(enc, checkpoint, layout)
        enc.checkpoint_path = Path(checkpoint)  # type: ignore[assignment]
    return enc.eval()


# --- key layouts of the ResNet-family checkpoints the zoo loads --------------------------------------

_MMCV_STEM = re.compile(r"^conv1\.(conv|bn)\.(.+)$")
_MMCV_BLOCK = re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.(conv|bn)\.(.+)$")
_MMCV_DOWNSAMPLE = re.compile(r"^(layer\d+\.\d+)\.downsample\.(conv|bn)\.(.+)$")


def mmcv_resnet_to_torchvision(state: Mapping[str, Any]) -> dict[str, Any]:
    """Rename an mmcv/mmaction ResNet's keys (``ConvModule`` = ``conv`` + ``bn``) to torchvision's.

    ``conv1.conv.weight`` -> ``conv1.weight``, ``conv1.bn.*`` -> ``bn1.*``,
    ``layerI.J.convK.conv.weight`` -> ``layerI.J.convK.weight``, ``layerI.J.convK.bn.*`` ->
    ``layerI.J.bnK.*``, ``layerI.J.downsample.{conv,bn}.*`` -> ``layerI.J.downsample.{0,1}.*``
    (the mapping mmaction's ``ResNet._load_torchvision_checkpoint`` applies the other way round).
    Keys of no ConvModule are kept unchanged, so that strict loading reports them.
    """
    out: dict[str, Any] = {}
    for key, value in state.items():
        if m := _MMCV_STEM.match(key):
            key = f"{'conv1' if m[1] == 'conv' else 'bn1'}.{m[2]}"
        elif m := _MMCV_BLOCK.match(key):
            key = f"{m[1]}.{'conv' if m[3] == 'conv' else 'bn'}{m[2]}.{m[4]}"
        elif m := _MMCV_DOWNSAMPLE.match(key):
            key = f"{m[1]}.downsample.{0 if m[2] == 'conv' else 1}.{m[3]}"
        out[key] = value
    return out


#: (key prefix, what a state dict with such keys is, the --model that loads it)
KNOWN_LAYOUTS: tuple[tuple[str, str, str], ...] = (
    ("encoder.model.", "a CRW checkpoint", "crw"),
    ("module.encoder_q.", "a MoCo checkpoint", "moco-v2-r50"),
    ("module.projector.", "a PixPro checkpoint", "pixpro-r50"),
    ("module.encoder.", "a SimSiam checkpoint", "simsiam-r50"),
    ("module.gray_encoder.", "a UVC checkpoint", "uvc"),
    ("module.encoderVideo.", "a TimeCycle checkpoint", "timecycle"),
    ("module.feature_extraction.", "a CorrFlow checkpoint", "corrflow"),
    ("feature_extraction.", "a MAST checkpoint (or a bare CorrFlow state dict)", "mast"),
    ("fast_net.backbone.", "a DUL snapshot", "dul"),
    ("online_encoder.", "an SFC fine-grained checkpoint", "sfc-fc-r18"),
    ("backbone.conv1.conv.", "an mmaction ResNet checkpoint (VFS)", "vfs-r18"),
    ("cls_token", "a ViT checkpoint", "dino-vits16"),
    ("fc.weight", "a torchvision ImageNet classifier", "resnet18-imagenet or resnet50-imagenet"),
)


def known_layout(state: Mapping[str, Any]) -> str:
    """Name the family of a state dict by its keys (``"a CRW checkpoint (--model crw)"``), or ``""``."""
    for prefix, what, model in KNOWN_LAYOUTS:
        if any(k.startswith(prefix) for k in state):
            return f"{what} (--model {model})"
    return ""


def keep_prefixed(prefix: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A ``CheckpointLayout.convert``: the entries under ``prefix`` (one sub-network of a training
    checkpoint, e.g. ``module.encoder_q.``), with the prefix removed; every other entry dropped."""

    def convert(state: dict[str, Any]) -> dict[str, Any]:
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    return convert


def require_key(key: str, expected: str) -> Callable[[dict[str, Any], str], None]:
    """A ``CheckpointLayout.check``: refuse (one line naming ``expected``) a state dict that has neither
    ``key`` nor ``module.`` + ``key`` (the same file saved from a DataParallel wrapper)."""

    def check(state: dict[str, Any], source: str) -> None:
        if key not in state and f"module.{key}" not in state:
            raise refuse_layout(state, source, expected)

    return check


def refuse_layout(state: Mapping[str, Any], source: str, expected: str) -> CheckpointError:
    """A one-line error for a checkpoint of another format than ``expected``."""
    found = known_layout(state) or f"keys {', '.join(list(state)[:3])}"
    return CheckpointError(f"checkpoint {source} is not {expected}: it holds {found}")


def squeeze_time_kernels(state: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Turn inflated 3-D convolution kernels of temporal size 1, (out, in, 1, kh, kw), into 2-D ones.

    Raises:
        CheckpointError: A 5-D kernel spans more than one frame (it has no 2-D equivalent).
    """
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.dim() == 5:
            if value.shape[2] != 1:
                raise CheckpointError(
                    f"checkpoint {source}: {key} is a 3-D kernel over {value.shape[2]} frames; only kernels of "
                    f"temporal size 1 have a 2-D equivalent"
                )
            value = value[:, :, 0]
        out[key] = value
    return out
