"""Running an encoder and the propagation over one video.

Frames are decoded by a prefetch thread, resized by the protocol's rule, passed through the
encoder in small batches (features computed once per frame, :mod:`~vosbench.propagation.features`),
L2-normalised, and propagated frame by frame with a rolling
:class:`~vosbench.propagation.context.ContextBuffer`: memory is bounded by the context length, not
by the video length. Labels go to and from the feature grid in :mod:`~vosbench.propagation.labels`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from vosbench.core.errors import ConfigError
from vosbench.core.video import VideoSequence
from vosbench.core.workers import FrameReader
from vosbench.propagation import batched
from vosbench.propagation.context import ContextBuffer, Workspace
from vosbench.propagation.features import (
    FeatureModel,
    Timings,
    feature_size,
    frame_features,
    processed_size,
    to_input,
)
from vosbench.propagation.host import use_all_cpu_threads
from vosbench.propagation.knn import candidates, predict
from vosbench.propagation.labels import (
    decode_labels,
    drop_small_objects,
    frame_labels,
    id_tables,
    labels_at_features,
    minmax_channels,
    sequence_label_ids,
)
from vosbench.propagation.mixing import Candidates, mix
from vosbench.propagation.perframe import per_frame_mean
from vosbench.propagation.precision import precision_dtype
from vosbench.propagation.protocol import Protocol

#: the names runs, benchmarks and tests import from here, from the modules that hold them
__all__ = [
    "FeatureModel",
    "Timings",
    "decode_labels",
    "feature_size",
    "frame_features",
    "labels_at_features",
    "precision_dtype",
    "processed_size",
    "propagate_many",
    "propagate_vos",
    "sequence_label_ids",
    "to_input",
    "use_all_cpu_threads",
]


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
    return (p.radius, p.window, p.context, p.first_frame, p.pad_with_first, p.first_in_window, p.radius_on_first,
            p.references)


def _copy_first_frame(
    seq: VideoSequence, annos: dict[int, np.ndarray], n: int, timings: list[Timings]
) -> Iterator[tuple[int, list[np.ndarray]]]:
    """The baseline that predicts the first annotation (merged with later ones) for every frame."""
    first_t = min(annos)
    first = annos[first_t]
    for t in range(len(seq)):
        if t in annos and t != first_t:
            merged = first.copy()
            new = annos[t] > 0
            merged[new] = annos[t][new]
            first = merged
        yield t, [first] * n
    for tm in timings:
        tm.frames += len(seq)


@dataclass
class _Lockstep:
    """Per-protocol state of :func:`propagate_many`: label ids (void is a label of its own under
    ``void_label``, as in DINO's one-hot), the channel -> id table (``luts``), the id -> channel
    tables (``tabs``), the rolling context (``bufs``); and the groups of protocols that share one
    search, each with its workspace."""

    protocols: list[Protocol]
    timings: list[Timings]
    device: torch.device
    ids_per: list[list[int]]
    luts: list[torch.Tensor]
    tabs: list[tuple[torch.Tensor, torch.Tensor]]
    bufs: list[ContextBuffer]
    find: Callable[..., Candidates]
    predict_fn: Callable[..., torch.Tensor]
    shared: list[list[int]] = field(default_factory=list)
    group_ws: list[Workspace] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        protocols: list[Protocol],
        timings: list[Timings],
        device: torch.device,
        label_ids: list[int],
        annos: dict[int, np.ndarray],
        path: str | None,
    ) -> _Lockstep:
        has_void = any(bool((a == 255).any()) for a in annos.values())
        ids_per = [label_ids + [255] if p.void_label and has_void else label_ids for p in protocols]
        luts = [torch.tensor(ids, dtype=torch.uint8, device=device) for ids in ids_per]
        tabs = [id_tables(ids, device) for ids in ids_per]
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
        return cls(
            protocols, timings, device, ids_per, luts, tabs, bufs, find, predict_fn, shared, [new_ws() for _ in shared]
        )

    def start(self, feats: torch.Tensor, anno: np.ndarray, hp: int, wp: int) -> list[np.ndarray]:
        """The first annotated frame: every protocol's context starts from its annotation."""
        fsize = (int(feats.shape[-2]), int(feats.shape[-1]))
        ids0 = torch.from_numpy(anno).to(self.device)
        for ws in self.group_ws:
            ws.clear()
        outs: list[np.ndarray] = []
        for i, (p, buf) in enumerate(zip(self.protocols, self.bufs)):
            t0 = time.perf_counter()
            labels = frame_labels(ids0, hp, wp, self.ids_per[i], fsize, p, self.tabs[i])
            buf.start(feats, drop_small_objects(labels, ids0, hp, wp, self.ids_per[i], p))
            if p.predict_first:  # TimeCycle: frame 0 predicted from copies of itself, a previous frame from then on
                buf.relabel_first(self.own_soft(i, feats))
            outs.append(anno)
            self.timings[i].propagation_s += time.perf_counter() - t0
        return outs

    def shared_mix(self, feats: torch.Tensor) -> dict[int, torch.Tensor]:
        """Soft labels of the protocols that share a search: one search per group, each member mixes."""
        softs: dict[int, torch.Tensor] = {}
        for g, ws in zip(self.shared, self.group_ws):
            t0 = time.perf_counter()
            lead = self.protocols[g[0]]
            kmax = max(int(self.protocols[i].topk) for i in g)  # type: ignore[arg-type]
            cands = self.find(feats, self.bufs[g[0]].frames(), lead, kmax, workspace=ws)
            _sync(self.device)
            self.timings[g[0]].propagation_s += time.perf_counter() - t0
            for i in g:
                t0 = time.perf_counter()
                p = self.protocols[i]
                softs[i] = mix(cands, [f.labels for f in self.bufs[i].frames()], int(p.topk), p.temperature)  # type: ignore[arg-type]
                _sync(self.device)
                self.timings[i].propagation_s += time.perf_counter() - t0
        return softs

    def own_soft(self, i: int, feats: torch.Tensor) -> torch.Tensor:
        """Protocol ``i``'s soft labels for the target ``feats`` from its own context (min-max
        normalised per channel under ``minmax_feedback``)."""
        p, buf = self.protocols[i], self.bufs[i]
        if p.mixing == "per-frame-mean":
            soft = per_frame_mean(feats, buf.frames(), p)
        else:
            soft = self.predict_fn(feats, buf.frames(), p, workspace=buf.workspace)
        return minmax_channels(soft) if p.minmax_feedback else soft

    def step(self, feats: torch.Tensor, anno: np.ndarray | None, geometry: tuple[int, int, int, int]) -> list[np.ndarray]:
        """A later frame: predict, decode at the frame's size (``geometry`` = h, w, hp, wp), merge
        a new object's annotation ``anno``, and feed the frame back into each context."""
        h, w, hp, wp = geometry
        fsize = (int(feats.shape[-2]), int(feats.shape[-1]))
        softs = self.shared_mix(feats)
        in_shared = {i for g in self.shared for i in g}
        outs: list[np.ndarray] = []
        for i, (p, buf) in enumerate(zip(self.protocols, self.bufs)):
            t0 = time.perf_counter()
            soft = softs[i] if i in in_shared else self.own_soft(i, feats)
            if p.minmax_feedback and i in in_shared:
                soft = minmax_channels(soft)
            chan = decode_labels(soft, hp, wp, h, w, p)
            out_t = self.luts[i][chan]
            if anno is not None:  # new objects join: their first mask overrides the prediction
                a = torch.from_numpy(anno).to(self.device)
                out_t = torch.where(a > 0, a, out_t)
            outs.append(out_t.cpu().numpy())  # the one device-to-host copy per frame
            if p.feedback == "soft" and anno is None:
                lab = soft
            else:  # hard feedback: the arg-maxed prediction, from the copy still on the device
                lab = frame_labels(out_t, hp, wp, self.ids_per[i], fsize, p, self.tabs[i])
            buf.push(feats, lab)
            _sync(self.device)
            self.timings[i].propagation_s += time.perf_counter() - t0
        return outs


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
    feature_keys = {(p.resize, p.size, p.l2_normalize, p.gt_size, p.gt_resize) for p in protocols}
    if len(feature_keys) > 1:
        raise ConfigError(
            "protocols run together must share resize, size, l2_normalize, gt_size and gt_resize (the features)"
        )
    label_ids, annos = sequence_label_ids(seq)
    if copy_first_frame:
        yield from _copy_first_frame(seq, annos, len(protocols), timings)
        return
    if device.type == "cpu":
        use_all_cpu_threads()
    state = _Lockstep.of(protocols, timings, device, label_ids, annos, path)
    first_t = min(annos)
    geometry = (0, 0, 0, 0)
    p0 = protocols[0]
    features = frame_features(seq, model, p0, device, timings[0], batch_size=batch_size, dtype=dtype, reader=reader)
    for t, feats in features:
        if dtype is not None and feats.dtype != dtype:
            feats = feats.to(dtype)
        if t < first_t:
            continue
        if t == first_t:  # the features have the processed frame's grid (frame_features checks it)
            h, w = annos[t].shape
            geometry = (h, w, *processed_size(h, w, p0))
            outs = state.start(feats, annos[t], geometry[2], geometry[3])
        else:
            outs = state.step(feats, annos.get(t), geometry)
        for tm in timings:
            tm.frames += 1
        yield t, outs


def _sync(device: torch.device) -> None:
    if device.type == "cuda":  # so that the time lands on the step that did the work
        torch.cuda.synchronize(device)
