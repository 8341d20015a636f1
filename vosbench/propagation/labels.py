"""Segmentation labels: id maps to one-hot labels at the feature grid, soft labels back to id
maps at the frame's size, and a sequence's input annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from vosbench.core.errors import InputFileError
from vosbench.core.video import VideoSequence
from vosbench.propagation.protocol import Protocol


def id_tables(label_ids: list[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(256,) channel of each id (0 for unknown ids) and (256,) whether the id is an object label."""
    lut = torch.zeros(256, dtype=torch.long)
    known = torch.zeros(256, dtype=torch.bool)
    for k, v in enumerate(label_ids):
        lut[v] = k
        known[v] = True
    return lut.to(device), known.to(device)


def ids_to_onehot(
    ids: torch.Tensor, label_ids: list[int], tables: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    """(H, W) integer map -> (K, H, W) float one-hot over ``label_ids`` (channel 0 = background).

    ``tables`` (from :func:`id_tables`, on the map's device) saves rebuilding them per frame.
    """
    lut, known = tables if tables is not None else id_tables(label_ids, ids.device)
    ids = ids.long()
    chan = lut[ids]
    oh = F.one_hot(chan, num_classes=len(label_ids)).permute(2, 0, 1).float()
    oh[0].masked_fill_(~known[ids], 1.0)  # ids that are no object (void) count as background
    return oh


def labels_at_features(
    ids: torch.Tensor,
    label_ids: list[int],
    size: tuple[int, int],
    protocol: Protocol,
    tables: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """A full-resolution id map (already resized/cropped to the processed frame) -> (K, h, w)."""
    if tables is None:
        tables = id_tables(label_ids, ids.device)
    if protocol.label_downsample == "bilinear-ids":
        # CorrFlow: interpolate the integer map itself, truncate, then one-hot.
        chan = tables[0][ids.long()].float()[None, None]
        small = F.interpolate(chan, size=size, mode="bilinear", align_corners=False)[0, 0].long()
        small = small.clamp_(0, len(label_ids) - 1)
        return F.one_hot(small, num_classes=len(label_ids)).permute(2, 0, 1).float()
    if protocol.label_downsample == "subsample":
        # MAST: the pixel at (s*y, s*x) of each s x s cell (the feature grid is ceil(H/s) x ceil(W/s))
        sy, sx = -(-ids.shape[0] // size[0]), -(-ids.shape[1] // size[1])
        return ids_to_onehot(ids[::sy, ::sx][: size[0], : size[1]], label_ids, tables)
    oh = ids_to_onehot(ids, label_ids, tables)[None]
    if protocol.label_downsample in ("nearest", "pil-nearest"):
        return F.interpolate(oh, size=size, mode="nearest-exact")[0]
    return F.interpolate(oh, size=size, mode="bilinear", align_corners=protocol.align_corners)[0]


def pil_nearest(ids: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(H, W) map of values 0..255 -> (h, w) by PIL's nearest resize (DINO's ``resize(..., 0)``),
    on the map's device. PIL picks other source pixels than torch ``nearest-exact`` at ties."""
    if tuple(ids.shape) == (h, w):
        return ids
    arr = ids.to("cpu", torch.uint8).numpy()
    out = np.asarray(Image.fromarray(arr, mode="L").resize((w, h), Image.Resampling.NEAREST))
    return torch.from_numpy(out.copy()).to(device=ids.device, dtype=ids.dtype)


def frame_labels(
    ids: torch.Tensor,
    hp: int,
    wp: int,
    label_ids: list[int],
    size: tuple[int, int],
    protocol: Protocol,
    tables: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """An original-resolution id map -> (K, h, w) labels at the feature grid ``size``.

    ``pil-nearest`` goes in one step from the original map to the grid (DINO's ``read_seg``);
    the other rules go through the processed frame (:func:`to_processed_ids`) first.
    """
    if protocol.label_downsample == "pil-nearest":
        return ids_to_onehot(pil_nearest(ids, *size), label_ids, tables)
    if protocol.label_downsample == "nearest-grid":
        small = F.interpolate(ids[None, None].float(), size=size, mode="nearest-exact")[0, 0].to(ids.dtype)
        return ids_to_onehot(small, label_ids, tables)
    return labels_at_features(to_processed_ids(ids, hp, wp, protocol), label_ids, size, protocol, tables)


def to_processed_ids(ids: torch.Tensor, hp: int, wp: int, protocol: Protocol) -> torch.Tensor:
    """Original-resolution id map -> processed-frame resolution (nearest / crop)."""
    h, w = ids.shape
    if (h, w) == (hp, wp):
        return ids
    if protocol.resize == "crop":
        return ids[:hp, :wp]
    return F.interpolate(ids[None, None].float(), size=(hp, wp), mode="nearest-exact")[0, 0].to(ids.dtype)


def minmax_channels(soft: torch.Tensor) -> torch.Tensor:
    """(K, h, w) -> each channel min-max normalised over its cells; a channel that is nowhere
    positive stays as it is, a constant positive one becomes 0 (where 0 / 0 would be)."""
    flat = soft.reshape(soft.shape[0], -1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    return torch.where(hi > 0, (flat - lo) / (hi - lo).clamp_min(1e-12), flat).reshape_as(soft)


def drop_small_objects(
    labels: torch.Tensor, ids: torch.Tensor, hp: int, wp: int, label_ids: list[int], protocol: Protocol
) -> torch.Tensor:
    """Zero the channel of every object (not background) that covers fewer than
    ``protocol.min_label_pixels`` pixels of the annotation ``ids`` at the processed size."""
    if protocol.min_label_pixels <= 0:
        return labels
    small = to_processed_ids(ids, hp, wp, protocol)
    out = labels.clone()
    for k, v in enumerate(label_ids[1:], start=1):
        if int((small == v).sum()) < protocol.min_label_pixels:
            out[k] = 0
    return out


def decode_labels(soft: torch.Tensor, hp: int, wp: int, h: int, w: int, protocol: Protocol) -> torch.Tensor:
    """(K, h', w') soft labels -> (H, W) channel indices at the original frame size."""
    grid = protocol.upscale == "grid-nearest"  # DINOv3: no bilinear step, legacy nearest to (H, W)
    corners = protocol.align_corners  # DUL: align_corners=True
    up = soft.float() if grid else F.interpolate(soft[None].float(), size=(hp, wp), mode="bilinear", align_corners=corners)[0]
    if protocol.norm_mask:
        up = minmax_channels(up)
    # max's indices: the first maximum, as argmax gives; CPU argmax over the leading dimension took
    # ~0.1 s per 480p frame (15x longer)
    idx = up.max(dim=0).indices
    if grid:
        return F.interpolate(idx[None, None].float(), size=(h, w), mode="nearest")[0, 0].long()
    if (hp, wp) == (h, w):
        return idx
    if protocol.resize == "crop":  # give back the cropped right/bottom strip by edge replication
        return F.pad(idx[None, None].float(), (0, w - wp, 0, h - hp), mode="replicate")[0, 0].long()
    if protocol.upscale == "pil-nearest":
        return pil_nearest(idx, h, w)
    if protocol.upscale == "nearest":  # OpenCV's INTER_NEAREST (TimeCycle's convert_davis.py)
        return F.interpolate(idx[None, None].float(), size=(h, w), mode="nearest")[0, 0].long()
    return F.interpolate(idx[None, None].float(), size=(h, w), mode="nearest-exact")[0, 0].long()


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header (nothing decoded)."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except FileNotFoundError:
        raise InputFileError(f"{path}: frame not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InputFileError(f"{path}: cannot decode image ({e}); the file is corrupt or truncated") from None


def sequence_label_ids(seq: VideoSequence, void_label: bool = False) -> tuple[list[int], dict[int, np.ndarray]]:
    """Read the input annotations; return ([0] + object ids, {frame: id map}).

    Void (255) is one of the ids only with ``void_label`` and when an annotation holds it.
    """
    annos = {t: seq.read_annotation(t) for t in sorted(seq.annotations)}
    for t, a in annos.items():  # blame the annotation itself, not the encoder or a later frame
        if type(seq).read_image is VideoSequence.read_image:
            h, w = image_size(seq.image_paths[t])  # header only
        else:  # a sequence that makes its own frames (in memory, cropped, ...)
            h, w = seq.read_image(t).shape[:2]
        if a.shape != (h, w):
            frame = seq.image_paths[t] or f"{seq.name}/{seq.frames[t]}"
            raise InputFileError(
                f"{seq.annotations[t]}: annotation is {a.shape[1]}x{a.shape[0]} but its frame "
                f"{frame} is {w}x{h} (W x H); an input annotation must have the size of its frame"
            )
    ids: set[int] = set()
    for a in annos.values():
        ids.update(int(v) for v in np.unique(a))
    ids.discard(0)
    if not void_label:
        ids.discard(255)
    return [0, *sorted(ids)], annos
