"""From video frames to features: the protocol's resize rule, the encoder in batches, the
encoder contract checked on each batch (:mod:`vosbench.core.contract`)."""

from __future__ import annotations

import math
import time
import typing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vosbench.core.contract import check_features, contract_error, span
from vosbench.core.errors import EncoderContractError, InputFileError
from vosbench.core.video import VideoSequence
from vosbench.core.workers import FrameReader
from vosbench.propagation.host import release_free_memory
from vosbench.propagation.protocol import Protocol
from vosbench.propagation.resize import resize_bilinear_uint8


class FeatureModel(typing.Protocol):
    """What propagation needs of an encoder (``vosbench.models.base.Encoder`` is one): a callable
    mapping RGB (B, 3, H, W) in [0, 1] to features (B, C, ceil(H / stride), ceil(W / stride))."""

    stride: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Timings:
    """Seconds spent per stage (accumulated over a run)."""

    decode_s: float = 0.0
    features_s: float = 0.0
    propagation_s: float = 0.0
    frames: int = 0


def processed_size(h: int, w: int, protocol: Protocol) -> tuple[int, int]:
    """Frame size after the protocol's resize rule."""
    if protocol.resize == "native":
        return h, w
    if protocol.resize == "square":
        return protocol.size, protocol.size
    if protocol.resize == "short-side":
        s = protocol.size
        if h <= w:
            return s, max(64, int((s * w / h) // 64 * 64))
        return max(64, int((s * h / w) // 64 * 64)), s
    if protocol.resize == "short-side-up":
        return short_side_up(h, w, protocol.size)
    m = protocol.size  # crop to a multiple of m
    return max(m, h // m * m), max(m, w // m * m)


def short_side_up(h: int, w: int, size: int, multiple: int = 16) -> tuple[int, int]:
    """DINOv3 notebook's ``ResizeToMultiple``: the short side ``size`` rounded up to a multiple,
    the long side scaled by the same factor (in float) and rounded up to a multiple too."""

    def up(x: float) -> int:
        return math.ceil(x / multiple) * multiple

    if w > h:
        nh = up(size)
        return nh, up(w * nh / h)
    nw = up(size)
    return up(h * nw / w), nw


def to_input(img: np.ndarray, protocol: Protocol) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, Hp, Wp) float in [0, 1], resized/cropped by the protocol.

    With ``protocol.resize_uint8`` the 8-bit frame is resized first (OpenCV's bilinear rule,
    :mod:`vosbench.propagation.resize`) and divided by 255 afterwards, as DINO's ``read_frame``.
    """
    h, w = img.shape[:2]
    hp, wp = processed_size(h, w, protocol)
    if protocol.resize == "short-side-up" and (hp, wp) != (h, w):  # PIL bicubic on the 8-bit frame
        img = np.array(Image.fromarray(np.ascontiguousarray(img)).resize((wp, hp), Image.Resampling.BICUBIC))
        h, w = hp, wp
    if protocol.resize_uint8 and protocol.resize != "crop" and (hp, wp) != (h, w):
        img = resize_bilinear_uint8(img, hp, wp)
        h, w = hp, wp
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)
    if (hp, wp) == (h, w):
        return x
    if protocol.resize == "crop":
        return x[:, :hp, :wp]
    return F.interpolate(x[None], size=(hp, wp), mode="bilinear", align_corners=False)[0]


def feature_size(hp: int, wp: int, stride: int) -> tuple[int, int]:
    return math.ceil(hp / stride), math.ceil(wp / stride)


def frame_features(
    seq: VideoSequence,
    model: FeatureModel,
    protocol: Protocol,
    device: torch.device,
    timings: Timings,
    batch_size: int = 4,
    prefetch: int = 4,
    frames: list[int] | None = None,
    dtype: torch.dtype | None = None,
    reader: FrameReader | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(t, features)`` for every frame, features (C, h, w) on ``device``.

    Decoding runs ahead: in ``reader`` (a run's :class:`~vosbench.core.workers.FrameReader`,
    decoding in worker processes and across sequences) or else in a thread of its own, ``prefetch``
    frames ahead. The encoder sees batches of ``batch_size`` frames.
    Features are L2-normalised over channels when the protocol says so (in float32), then
    stored as ``dtype`` (default: as the encoder returns them) for half-precision matching.
    """
    idx = list(range(len(seq))) if frames is None else frames
    size0: tuple[int, int] | None = None
    channels: int | None = None

    def load(t: int) -> np.ndarray:
        return seq.read_image(t) if reader is None else reader.read(seq, t)

    # with a reader, frames are decoded ahead there; the one thread here only hands them over
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vosbench-decode") as pool:
        pending = [pool.submit(load, t) for t in idx[:prefetch]]
        nxt = len(pending)
        for b0 in range(0, len(idx), batch_size):
            ts = idx[b0 : b0 + batch_size]
            t0 = time.perf_counter()
            imgs = []
            for t in ts:
                img = pending.pop(0).result()
                if nxt < len(idx):
                    pending.append(pool.submit(load, idx[nxt]))
                    nxt += 1
                if size0 is None:
                    size0 = img.shape[:2]
                elif img.shape[:2] != size0:
                    raise InputFileError(
                        f"{seq.image_paths[t]}: frame size {img.shape[1]}x{img.shape[0]} differs from the "
                        f"first frame's {size0[1]}x{size0[0]}; all frames of a video must have one size"
                    )
                imgs.append(to_input(img, protocol))
            x = torch.stack(imgs)
            if device.type == "cuda":  # pinned memory makes the copy asynchronous
                x = x.pin_memory()
            x = x.to(device, non_blocking=True)
            t1 = time.perf_counter()
            timings.decode_s += t1 - t0
            names = [f"{seq.name}/{seq.frames[t]}" for t in ts]
            with torch.inference_mode():
                f = _encode(model, x, names)
                if channels is None:
                    channels = int(f.shape[1])
                elif f.shape[1] != channels:
                    raise contract_error(
                        f"{span(names)}: {model_name(model)}", f"returned {f.shape[1]} channels, {channels} on earlier frames"
                    )
                if protocol.l2_normalize:
                    f = F.normalize(f.float() if f.dtype in (torch.float16, torch.bfloat16) else f, dim=1)
                if dtype is not None:
                    f = f.to(dtype)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            release_free_memory()  # once per batch: the encoder's activations were just freed
            timings.features_s += time.perf_counter() - t1
            for j, t in enumerate(ts):
                yield t, f[j]


def model_name(model: FeatureModel) -> str:
    """How contract errors name ``model``: its spec's name, else its class name."""
    spec = getattr(model, "spec", None)
    return f"model {getattr(spec, 'name', None) or type(model).__name__}"


def _encode(model: FeatureModel, x: torch.Tensor, names: list[str]) -> torch.Tensor:
    """``model(x)`` checked against the encoder contract (:mod:`vosbench.core.contract`);
    ``names`` are the batch's frames (``sequence/frame``), named by a contract error."""
    try:
        out = model(x)
    except EncoderContractError as e:  # raised inside an Encoder, which does not know the frames
        raise EncoderContractError(f"{span(names)}: {e}") from None
    return check_features(out, x, int(model.stride), model_name(model), names)
