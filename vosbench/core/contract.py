"""The encoder contract, checked on what an encoder returns.

An encoder maps RGB input (B, 3, H, W) in [0, 1] to features (B, C, ceil(H / stride),
ceil(W / stride)) with C >= 1, in a floating-point dtype, on the input's device, every value
finite (README, "Python API"). :func:`check_features` checks one output against it with cheap
tests: shapes and attributes are free, the values are read once per batch (one
``isfinite().all()``, a single device-to-host transfer of one boolean).

Like the rest of :mod:`vosbench.core`, this module does not import torch: it is handed tensors
and uses their own methods.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, TypeGuard

from vosbench.core.errors import EncoderContractError

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: the contract, as every contract error states it
CONTRACT = (
    "the encoder contract is features of shape (B, C, ceil(H/stride), ceil(W/stride)) with C >= 1, "
    "floating point, finite, on the input's device"
)


def contract_error(what: str, problem: str) -> EncoderContractError:
    """The one-line error for ``what`` (a model, a frame) breaking the contract by ``problem``."""
    return EncoderContractError(f"{what}: {problem}; {CONTRACT}")


def check_shape(out: object, x: torch.Tensor, stride: int, what: str) -> torch.Tensor:
    """``out`` if it is a tensor of the shape the contract gives for input ``x``, else the error.

    Checks only what costs nothing (type, dimensions, batch, grid): no value is read.
    """
    b, _, h, w = x.shape
    want = (math.ceil(h / stride), math.ceil(w / stride))
    if not _is_tensor(out):
        raise contract_error(what, f"returned a {type(out).__name__}, not a tensor")
    if out.ndim != 4 or out.shape[0] != b or tuple(out.shape[-2:]) != want:
        raise contract_error(
            what,
            f"on a {tuple(x.shape)} input (stride {stride}) it returned {tuple(out.shape)}, "
            f"expected ({b}, C, {want[0]}, {want[1]})",
        )
    return out


def _is_tensor(x: object) -> TypeGuard[torch.Tensor]:
    torch = sys.modules.get("torch")  # a tensor exists only once its caller has imported torch
    return torch is not None and isinstance(x, torch.Tensor)


def check_features(out: object, x: torch.Tensor, stride: int, model: str, frames: list[str]) -> torch.Tensor:
    """``out`` if it keeps the whole contract for input ``x``, else the error naming the frames.

    ``model`` names the encoder (``"model lab"``), ``frames`` the frames of the batch
    (``sequence/frame``), one per input row.
    """
    what = f"{span(frames)}: {model}"
    feats = check_shape(out, x, stride, what)
    if feats.device != x.device:
        raise contract_error(what, f"returned features on {feats.device}, input on {x.device}")
    if not feats.dtype.is_floating_point:
        raise contract_error(what, f"returned {feats.dtype} features")
    if feats.shape[1] < 1:
        raise contract_error(what, "returned features with 0 channels")
    if not bool(feats.isfinite().all()):
        bad = (~feats.isfinite()).flatten(1).any(dim=1).tolist()
        first = frames[bad.index(True)] if True in bad else span(frames)
        raise contract_error(f"{first}: {model}", "returned NaN or infinite feature values")
    return feats


def span(frames: list[str]) -> str:
    """``seq/00000..00003`` for the frames of a batch (``seq/00000`` for one)."""
    if len(frames) == 1:
        return frames[0]
    return f"{frames[0]}..{frames[-1].rsplit('/', 1)[-1]}"
