"""Running an encoder and the propagation over one video.

Frames are decoded by a prefetch thread, resized by the protocol's rule, passed through the
encoder in small batches (features computed once per frame), L2-normalised, and propagated
frame by frame with a rolling :class:`~vosbench.propagation.knn.ContextBuffer`: memory is
bounded by the context length, not by the video length.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
import typing

import numpy as np
import torch
import torch.nn.functional as F

from vosbench.core.video import VideoSequence
from vosbench.core.workers import FrameReader
from vosbench.core.errors import ConfigError, InputFileError
from vosbench.propagation import batched
from vosbench.propagation.knn import ContextBuffer, Workspace, candidates, mix, predict
from vosbench.propagation.perframe import per_frame_mean
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


def use_all_cpu_threads() -> int:
    """Let torch use every CPU this process may run on (once per process; returns the thread
    count). ``VOSBENCH_THREADS=N`` asks for N threads instead; a thread count pinned with
    OMP_NUM_THREADS or MKL_NUM_THREADS is left alone."""
    if not getattr(use_all_cpu_threads, "_done", False):
        use_all_cpu_threads._done = True  # type: ignore[attr-defined]
        want = os.environ.get("VOSBENCH_THREADS", "").strip()
        if want:
            try:
                torch.set_num_threads(max(1, int(want)))
            except ValueError:
                raise ConfigError(f"VOSBENCH_THREADS={want!r}: expected a number of threads") from None
        elif not any(os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
            try:
                n = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                n = os.cpu_count() or 1
            if torch.get_num_threads() < n:
                torch.set_num_threads(n)
    return torch.get_num_threads()


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or a no-op elsewhere."""
    try:
        import ctypes

        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    fn.argtypes = [ctypes.c_size_t]
    return lambda: None if os.environ.get("VOSBENCH_NO_TRIM") else fn(0)


#: Hand memory freed by the C allocator back to the OS. glibc keeps freed blocks in per-thread
#: heaps (decoding, writing, scoring and propagation threads each have one), and without trimming
#: their retained, fragmented free space made peak memory creep up with the length of a video.
release_free_memory = _malloc_trim()


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
    m = protocol.size  # crop to a multiple of m
    return max(m, h // m * m), max(m, w // m * m)


def to_input(img: np.ndarray, protocol: Protocol) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, Hp, Wp) float in [0, 1], resized/cropped by the protocol.

    With ``protocol.resize_uint8`` the 8-bit frame is resized first (OpenCV's bilinear rule,
    :mod:`vosbench.propagation.resize`) and divided by 255 afterwards, as DINO's ``read_frame``.
    """
    h, w = img.shape[:2]
    hp, wp = processed_size(h, w, protocol)
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
            with torch.inference_mode():
                f = model(x)
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


# --- segmentation labels ------------------------------------------------------------------------


def _id_tables(label_ids: list[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
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

    ``tables`` (from :func:`_id_tables`, on the map's device) saves rebuilding them per frame.
    """
    lut, known = tables if tables is not None else _id_tables(label_ids, ids.device)
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
        tables = _id_tables(label_ids, ids.device)
    if protocol.label_downsample == "bilinear-ids":
        # CorrFlow: interpolate the integer map itself, truncate, then one-hot.
        chan = tables[0][ids.long()].float()[None, None]
        small = F.interpolate(chan, size=size, mode="bilinear", align_corners=False)[0, 0].long()
        small = small.clamp_(0, len(label_ids) - 1)
        return F.one_hot(small, num_classes=len(label_ids)).permute(2, 0, 1).float()
    oh = ids_to_onehot(ids, label_ids, tables)[None]
    if protocol.label_downsample in ("nearest", "pil-nearest"):
        return F.interpolate(oh, size=size, mode="nearest-exact")[0]
    return F.interpolate(oh, size=size, mode="bilinear", align_corners=False)[0]


def pil_nearest(ids: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(H, W) map of values 0..255 -> (h, w) by PIL's nearest resize (DINO's ``resize(..., 0)``),
    on the map's device. PIL picks other source pixels than torch ``nearest-exact`` at ties."""
    from PIL import Image

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
    return labels_at_features(to_processed_ids(ids, hp, wp, protocol), label_ids, size, protocol, tables)


def to_processed_ids(ids: torch.Tensor, hp: int, wp: int, protocol: Protocol) -> torch.Tensor:
    """Original-resolution id map -> processed-frame resolution (nearest / crop)."""
    h, w = ids.shape
    if (h, w) == (hp, wp):
        return ids
    if protocol.resize == "crop":
        return ids[:hp, :wp]
    return F.interpolate(ids[None, None].float(), size=(hp, wp), mode="nearest-exact")[0, 0].to(ids.dtype)


def decode_labels(soft: torch.Tensor, hp: int, wp: int, h: int, w: int, protocol: Protocol) -> torch.Tensor:
    """(K, h', w') soft labels -> (H, W) channel indices at the original frame size."""
    up = F.interpolate(soft[None].float(), size=(hp, wp), mode="bilinear", align_corners=False)[0]
    if protocol.norm_mask:
        flat = up.reshape(up.shape[0], -1)
        lo = flat.min(dim=1, keepdim=True).values
        hi = flat.max(dim=1, keepdim=True).values
        flat = torch.where(hi > 0, (flat - lo) / (hi - lo).clamp_min(1e-12), flat)
        up = flat.reshape_as(up)
    idx = up.argmax(dim=0)
    if (hp, wp) == (h, w):
        return idx
    if protocol.resize == "crop":  # give back the cropped right/bottom strip by edge replication
        return F.pad(idx[None, None].float(), (0, w - wp, 0, h - hp), mode="replicate")[0, 0].long()
    if protocol.upscale == "pil-nearest":
        return pil_nearest(idx, h, w)
    return F.interpolate(idx[None, None].float(), size=(h, w), mode="nearest-exact")[0, 0].long()


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header (nothing decoded)."""
    from PIL import Image, UnidentifiedImageError

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


def propagate_vos(
    seq: VideoSequence,
    model: FeatureModel,
    protocol: Protocol,
    device: torch.device,
    timings: Timings,
    batch_size: int = 4,
    copy_first_frame: bool = False,
    dtype: torch.dtype | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(t, ids)`` for every frame: the predicted (H, W) uint8 id map at original size.

    Frames that carry an input annotation (frame 0; for YouTube-VOS also the frames where new
    objects first appear) output the annotation merged over the prediction, and those merged
    labels become the frame's context labels. Objects are never predicted before the frame of
    their first annotation (their channel is empty until then).

    Everything per frame stays on ``device``; the only transfer is the predicted id map, copied
    to the host once per frame. ``dtype`` stores features in half precision.
    """
    for t, outs in propagate_many(
        seq, model, [protocol], device, [timings], batch_size, copy_first_frame, dtype
    ):
        yield t, outs[0]


def _sharing_key(p: Protocol) -> tuple[object, ...] | None:
    """Protocols with equal keys score the same candidates (they differ only in top-k,
    temperature or what is done with the labels); ``None``: no sharing (softmax over all)."""
    if p.topk is None or p.mixing != "joint":
        return None
    return (p.radius, p.window, p.context, p.first_frame, p.pad_with_first, p.first_in_window, p.radius_on_first)


def propagate_many(
    seq: VideoSequence,
    model: FeatureModel,
    protocols: list[Protocol],
    device: torch.device,
    timings: list[Timings],
    batch_size: int = 4,
    copy_first_frame: bool = False,
    dtype: torch.dtype | None = None,
    path: str | None = None,
    reader: FrameReader | None = None,
) -> Iterator[tuple[int, list[np.ndarray]]]:
    """:func:`propagate_vos` for several protocols at once (a sweep), in lockstep.

    The encoder runs once per frame for all protocols (they must agree on the settings that
    shape the features: resize, size, l2_normalize). Protocols that differ only in top-k,
    temperature or label handling (feedback, label down-sampling, norm_mask) also share the
    similarity search: the best candidates are found once per frame for the largest top-k and
    each protocol mixes its own labels from them. Yields ``(t, [ids per protocol])``.

    Time is attributed to ``timings``: encoding to the first protocol, a shared search to the
    first protocol of its group, each protocol's own mixing and decoding to itself.

    ``path`` picks the matching code (:func:`vosbench.propagation.batched.propagation_path`:
    ``batched`` on CUDA, ``windowed`` on CPU by default); both give the same predictions.
    ``reader`` decodes the frames (see :func:`frame_features`).
    """
    feature_keys = {(p.resize, p.size, p.l2_normalize) for p in protocols}
    if len(feature_keys) > 1:
        raise ConfigError("protocols run together must share resize, size and l2_normalize (the features)")
    label_ids, annos = sequence_label_ids(seq)
    first_t = min(annos)
    if copy_first_frame:
        first = annos[first_t]
        for t in range(len(seq)):
            if t in annos and t != first_t:
                merged = first.copy()
                new = annos[t] > 0
                merged[new] = annos[t][new]
                first = merged
            yield t, [first] * len(protocols)
        for tm in timings:
            tm.frames += len(seq)
        return

    if device.type == "cpu":
        use_all_cpu_threads()
    # per protocol: its label ids (void is a label of its own under void_label, as in DINO's
    # one-hot), the channel -> id table and the id -> channel tables
    has_void = any(bool((a == 255).any()) for a in annos.values())
    ids_per = [label_ids + [255] if p.void_label and has_void else label_ids for p in protocols]
    luts = [torch.tensor(ids, dtype=torch.uint8, device=device) for ids in ids_per]
    tabs = [_id_tables(ids, device) for ids in ids_per]
    bufs = [ContextBuffer(p) for p in protocols]
    new_ws: type[Workspace]
    if batched.propagation_path(device, path) == "batched":
        find, predict_fn, new_ws = batched.candidates, batched.predict, batched.BatchedWorkspace
        for buf in bufs:
            buf.workspace = new_ws()
    else:
        find, predict_fn, new_ws = candidates, predict, Workspace
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, p in enumerate(protocols):
        key = _sharing_key(p)
        if key is not None:
            groups.setdefault(key, []).append(i)
    shared = [g for g in groups.values() if len(g) > 1]
    in_shared = {i for g in shared for i in g}
    group_ws = [new_ws() for _ in shared]
    h = w = hp = wp = 0
    stride = int(model.stride)
    p0 = protocols[0]
    features = frame_features(seq, model, p0, device, timings[0], batch_size=batch_size, dtype=dtype, reader=reader)
    for t, feats in features:
        if dtype is not None and feats.dtype != dtype:
            feats = feats.to(dtype)
        if t == first_t:
            h, w = annos[t].shape
            hp, wp = processed_size(h, w, p0)
            if feats.shape[-2:] != feature_size(hp, wp, stride):
                raise InputFileError(
                    f"model output {tuple(feats.shape[-2:])} is not ceil(size/stride) of the "
                    f"{hp}x{wp} input (stride {stride}); the encoder breaks the vosbench contract"
                )
        if t < first_t:
            continue
        fsize = (int(feats.shape[-2]), int(feats.shape[-1]))
        outs: list[np.ndarray] = []
        if t == first_t:
            ids0 = torch.from_numpy(annos[t]).to(device)
            for ws in group_ws:
                ws.clear()
            for i, (p, buf) in enumerate(zip(protocols, bufs)):
                t0 = time.perf_counter()
                buf.start(feats, frame_labels(ids0, hp, wp, ids_per[i], fsize, p, tabs[i]))
                outs.append(annos[t])
                timings[i].propagation_s += time.perf_counter() - t0
        else:
            softs: dict[int, torch.Tensor] = {}
            for g, ws in zip(shared, group_ws):  # one search per group, each member mixes
                t0 = time.perf_counter()
                lead = protocols[g[0]]
                kmax = max(int(protocols[i].topk) for i in g)  # type: ignore[arg-type]
                cands = find(feats, bufs[g[0]].frames(), lead, kmax, workspace=ws)
                _sync(device)
                timings[g[0]].propagation_s += time.perf_counter() - t0
                for i in g:
                    t0 = time.perf_counter()
                    p = protocols[i]
                    softs[i] = mix(cands, [f.labels for f in bufs[i].frames()], int(p.topk), p.temperature)  # type: ignore[arg-type]
                    _sync(device)
                    timings[i].propagation_s += time.perf_counter() - t0
            for i, (p, buf) in enumerate(zip(protocols, bufs)):
                t0 = time.perf_counter()
                if p.mixing == "per-frame-mean":
                    soft = per_frame_mean(feats, buf.frames(), p)
                else:
                    soft = softs[i] if i in in_shared else predict_fn(feats, buf.frames(), p, workspace=buf.workspace)
                chan = decode_labels(soft, hp, wp, h, w, p)
                out_t = luts[i][chan]
                if t in annos:  # new objects join: their first mask overrides the prediction
                    a = torch.from_numpy(annos[t]).to(device)
                    out_t = torch.where(a > 0, a, out_t)
                outs.append(out_t.cpu().numpy())  # the one device-to-host copy per frame
                if p.feedback == "soft" and t not in annos:
                    lab = soft
                else:  # hard feedback: the arg-maxed prediction, from the copy still on the device
                    lab = frame_labels(out_t, hp, wp, ids_per[i], fsize, p, tabs[i])
                buf.push(feats, lab)
                _sync(device)
                timings[i].propagation_s += time.perf_counter() - t0
        for tm in timings:
            tm.frames += 1
        yield t, outs


def _sync(device: torch.device) -> None:
    if device.type == "cuda":  # so that the time lands on the step that did the work
        torch.cuda.synchronize(device)
