"""What ``--precision`` means for float32 arithmetic on the device.

torch lets NVIDIA GPUs run float32 matrix products and convolutions in TensorFloat-32 (inputs
rounded to 10 mantissa bits) behind the user's back: cuDNN convolutions do by default, matrix
products when ``torch.backends.cuda.matmul.allow_tf32``, ``set_float32_matmul_precision`` or
(torch >= 2.9) ``torch.backends.cuda.matmul.fp32_precision`` say so (some libraries set them at
import). ``--precision fp32`` must mean fp32, so a run sets
these switches for its duration and restores them afterwards: TF32 off for every precision except
``tf32``, which turns it on and is recorded like any other precision (and kept apart on the
leaderboard, as half precision is).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from vosbench.core.errors import ConfigError


def _switches() -> list[tuple[str, Any, str, Any, Any]]:
    """(name, object, attribute, fp32 value, tf32 value) of the TF32 switches of this torch.

    torch >= 2.9 has per-backend ``fp32_precision`` settings ("ieee" / "tf32") beside the legacy
    ``allow_tf32`` flags and ``set_float32_matmul_precision``; it refuses to read state that was set
    through a mix of both, so the new ones are used (read and restored) wherever they exist.
    """
    mm, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(mm, "fp32_precision") and hasattr(getattr(cudnn, "conv", None), "fp32_precision"):
        return [
            ("cuda.matmul.fp32_precision", mm, "fp32_precision", "ieee", "tf32"),
            ("cudnn.conv.fp32_precision", getattr(cudnn, "conv"), "fp32_precision", "ieee", "tf32"),
        ]
    return [
        ("cuda.matmul.allow_tf32", mm, "allow_tf32", False, True),
        ("cudnn.allow_tf32", cudnn, "allow_tf32", False, True),
    ]


def tf32_state() -> dict[str, Any]:
    """The current TF32 switches, by name (for the run record)."""
    return {name: getattr(obj, attr) for name, obj, attr, _, _ in _switches()}


@contextlib.contextmanager
def float32_mode(precision: str) -> Iterator[None]:
    """Within the block, float32 products and convolutions on NVIDIA GPUs are true fp32 (TF32
    off), or TF32 for ``precision == "tf32"``; the previous settings are restored on exit. (On
    CPUs these switches change nothing.)"""
    tf32 = precision == "tf32"
    switches = _switches()
    saved = [getattr(obj, attr) for _, obj, attr, _, _ in switches]
    legacy = not hasattr(torch.backends.cuda.matmul, "fp32_precision")
    saved_mm = torch.get_float32_matmul_precision() if legacy else None
    try:
        for _, obj, attr, off, on in switches:
            setattr(obj, attr, on if tf32 else off)
        if legacy:
            torch.set_float32_matmul_precision("high" if tf32 else "highest")
        yield
    finally:
        for (_, obj, attr, _, _), value in zip(switches, saved):
            setattr(obj, attr, value)
        if saved_mm is not None:
            torch.set_float32_matmul_precision(saved_mm)


PRECISIONS = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype features are stored in for ``--precision`` on ``device``.

    Half precision features are rounded to bf16/fp16 for storage and matched in float32 (see
    :mod:`vosbench.propagation.knn`); the rounding changes the similarities slightly (and so,
    rarely, the top-k); its effect on J&F is measured in benchmarks/propagation.py and
    benchmarks/gpu.py. ``tf32`` stores fp32 features and lets the GPU's matrix products and
    convolutions use TensorFloat-32 (see :mod:`vosbench.propagation.precision`); ``fp32`` keeps
    them in true fp32. fp16 and tf32 are refused on CPUs (fp16: slow or emulated there; tf32: a
    mode of NVIDIA GPUs); bf16 runs on CPUs.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("--precision fp16 needs a GPU; on CPU use fp32 (default) or bf16")
    if precision == "tf32" and device.type != "cuda":
        raise ConfigError("--precision tf32 is a mode of NVIDIA GPUs (TensorFloat-32 products); on CPU use fp32 (default) or bf16")
    return PRECISIONS[precision]
