"""The context of a target frame: :class:`ContextFrame`, the rolling :class:`ContextBuffer` of a
video, and the :class:`Workspace` that keeps its windowed frames in the layout the block products
read."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch

from vosbench.propagation.protocol import Protocol


@dataclass
class ContextFrame:
    """A context frame: L2-normalised (or raw) features (C, h, w) and labels (K, h, w)."""

    feats: torch.Tensor
    labels: torch.Tensor
    count: int = 1
    restricted: bool = True


def split_context(context: list[ContextFrame], protocol: Protocol) -> tuple[list[int], list[int]]:
    """Indices of the unrestricted and of the windowed context frames."""
    windowed = protocol.radius is not None
    dense = [i for i, f in enumerate(context) if not (f.restricted and windowed)]
    local = [i for i, f in enumerate(context) if f.restricted and windowed]
    return dense, local


class Workspace:
    """State that :func:`~vosbench.propagation.knn.predict` reuses across the frames of one video.

    Keeps the windowed (restricted) context frames in the layout the block products read, slots
    last: features (C, h, w, slots) and labels (h, w, slots, K), and copies in only the frames
    that are new since the previous call (one per frame once the context is full) instead of
    restacking the whole context. Frames are recognised by tensor identity, so the context's
    tensors must not be modified in place while a workspace holds them (ContextBuffer never
    does). Memory: one context's worth of features and labels, whatever the video length.
    """

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.owner_feats: list[torch.Tensor | None] = []
        self.owner_labels: list[torch.Tensor | None] = []
        self.slots: list[int] = []

    def clear(self) -> None:
        """Drop everything (e.g. between videos, to release memory early)."""
        self.__init__()  # type: ignore[misc]

    def load(self, frames: list[ContextFrame], capacity: int, dtype: torch.dtype, labels: bool = True) -> None:
        """Place ``frames`` in slots ``0 .. len(frames)-1`` (the order of slots does not matter);
        their labels too when ``labels`` (only the softmax-over-all path reads them here)."""
        f0 = frames[0]
        C, h, w = f0.feats.shape
        K = f0.labels.shape[0]
        nf = len(frames)
        if (
            self.keys is None
            or self.labels is None
            or self.keys.shape[:3] != (C, h, w)
            or self.keys.shape[3] < nf
            or self.keys.dtype != dtype
            or self.keys.device != f0.feats.device
            or self.labels.shape[3] != K
            or self.labels.dtype != dtype
        ):
            cap = max(capacity, nf)
            self.keys = torch.empty(C, h, w, cap, device=f0.feats.device, dtype=dtype)  # matched in dtype
            self.labels = torch.empty(h, w, cap, K, device=f0.feats.device, dtype=dtype)
            self.owner_feats = [None] * cap
            self.owner_labels = [None] * cap
        taken: set[int] = set()
        slot: list[int | None] = []
        for f in frames:  # frames already in an active slot stay there
            j = next(
                (j for j in range(nf) if j not in taken and self.owner_feats[j] is f.feats),
                None,
            )
            if j is not None:
                taken.add(j)
            slot.append(j)
        free = iter(j for j in range(nf) if j not in taken)
        for i, f in enumerate(frames):
            if slot[i] is None:
                j = next(free)
                self.keys[..., j] = f.feats
                self.owner_feats[j] = f.feats
                self.owner_labels[j] = None
                slot[i] = j
            j = slot[i]
            assert j is not None
            if labels and self.owner_labels[j] is not f.labels:
                self.labels[:, :, j] = f.labels.permute(1, 2, 0)
                self.owner_labels[j] = f.labels
        self.slots = [int(j) for j in slot]  # type: ignore[arg-type]


#: the frame MAST's ``benchmark.py`` keeps as a second long-term reference (after frame 0)
MAST_LONG_TERM = 5
#: MAST's ``mem_gap``: its recent references are t-1, t-3, t-5
MAST_GAP = 2


def mast_references(t: int, recent: int = 3) -> list[int]:
    """The frames MAST's ``benchmark.py`` (``--ref 0``) uses to predict frame ``t`` >= 1: frames 0
    and 5 (once before ``t``) and ``recent`` frames two apart back from ``t - 1``, never frame 0
    twice; ascending."""
    last = t - 1
    recent_frames = [x for x in range(last, last - MAST_GAP * recent, -MAST_GAP) if x > 0]
    return sorted({x for x in (0, MAST_LONG_TERM) if x <= last} | set(recent_frames))


class ContextBuffer:
    """The rolling context of one video: frame 0 plus the last ``protocol.context`` frames (or,
    under ``references="mast"``, MAST's references, see :func:`mast_references`).

    Holds at most ``2 * context + 1`` frames' features and labels, whatever the video length, plus
    a :class:`Workspace` (``self.workspace``) to hand to :func:`~vosbench.propagation.knn.predict`.
    """

    def __init__(self, protocol: Protocol):
        self.protocol = protocol
        self.first: tuple[torch.Tensor, torch.Tensor] | None = None
        mast = protocol.references == "mast"
        span = MAST_GAP * protocol.context - 1 if mast else protocol.context
        self.recent: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=max(1, span))
        self.pushed = 0  # frames pushed since start(): the last one is frame `pushed` of the video
        self.long_term: tuple[torch.Tensor, torch.Tensor] | None = None  # MAST's frame 5
        self.workspace = Workspace()

    def start(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Frame 0 with its ground-truth labels."""
        self.first = (feats, labels)
        self.recent.clear()
        self.pushed = 0
        self.long_term = None
        self.workspace.clear()
        p = self.protocol
        if not p.first_frame or p.pad_with_first or p.first_in_window:
            # frame 0 is also a "previous frame" of frame 1 (CorrFlow, CRW, VFS); for DINO-style context
            # it is only the long-term frame.
            self.recent.append((feats, labels))

    def relabel_first(self, labels: torch.Tensor) -> None:
        """Give frame 0, as a previous frame, new labels (its prediction: ``predict_first``)."""
        assert self.first is not None and len(self.recent) == 1, "right after start()"
        self.recent[0] = (self.first[0], labels)

    def push(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Append a processed frame (its features and the labels it now carries)."""
        self.recent.append((feats, labels))
        self.pushed += 1
        if self.pushed == MAST_LONG_TERM and self.protocol.references == "mast":
            self.long_term = (feats, labels)

    def frames(self) -> list[ContextFrame]:
        """Context for the next target frame."""
        p = self.protocol
        assert self.first is not None, "start() first"
        out: list[ContextFrame] = []
        if p.first_frame:
            out.append(ContextFrame(*self.first, count=1, restricted=p.radius_on_first))
        if p.context == 0:
            return out
        if p.references == "mast":
            return out + self._mast_frames()
        recent = list(self.recent)[-p.context :]
        if p.pad_with_first and len(recent) < p.context:
            # CRW pads the frame list with copies of frame 0: the missing previous frames are
            # frame 0, so frame 0's multiplicity in the short-term context grows accordingly.
            missing = p.context - len(recent)
            if p.predict_first:  # the padding is frame 0 with its annotation, frame 0 carries its prediction
                out.append(ContextFrame(*self.first, count=missing, restricted=True))
            else:
                f0, l0 = recent[0]
                out.append(ContextFrame(f0, l0, count=1 + missing, restricted=True))
                recent = recent[1:]
        out.extend(ContextFrame(f, lab, count=1, restricted=True) for f, lab in recent)
        return out

    def _mast_frames(self) -> list[ContextFrame]:
        """MAST's references after frame 0, in ascending frame order (:func:`mast_references`)."""
        t = self.pushed + 1  # the target frame
        frames = {t - 1 - i: fl for i, fl in enumerate(reversed(self.recent))}
        if self.long_term is not None:
            frames[MAST_LONG_TERM] = self.long_term
        wanted = [x for x in mast_references(t, self.protocol.context) if x > 0]
        return [ContextFrame(*frames[x], count=1, restricted=True) for x in wanted]
