"""DAVIS region (J) and boundary (F) measures, per frame and per object.

The numbers are those of the official DAVIS 2017 semi-supervised evaluation:

* Objects are the ids ``1..max id of the first GT frame`` (void 255 does not count). GT ids above
  that, and void (255) pixels, are background for every object: void is not an object and is not
  masked out (the official semi-supervised mode passes no void mask to the measures).
* The first and the last frame of a sequence are not scored.
* J = |G ∩ P| / |G ∪ P| per frame, 1 when the union is empty.
* F = boundary F-measure. Boundaries are 1-pixel maps (a pixel is a boundary pixel when it differs
  from its right, lower or lower-right neighbour; the last row compares only to the right, the last
  column only downwards, the bottom-right pixel never is one). A boundary pixel is matched when a
  pixel of the other boundary lies within a disk of radius ``ceil(0.008 * image diagonal)``
  (Euclidean distance <= radius, i.e. ``dy² + dx² <= r²``). Precision = matched predicted / predicted
  boundary pixels, recall = matched GT / GT boundary pixels; no boundary in either: P = R = 1; only a
  GT boundary: P = 1, R = 0; only a predicted one: P = 0, R = 1; F = 2PR / (P + R), 0 when P + R = 0.
  Matching is an exact disk test in integers (the same counts as dilating with a disk structuring
  element), restricted to a crop around the object.
* Per object over its scored frames: Mean; Recall = fraction of frames with a score > 0.5;
  Decay = mean of the first quarter minus mean of the last quarter, quarters taken as the official
  code does (5 bin edges ``round(linspace(1, n, 5)) - 1``, each bin including both of its edges).
  The official code stores the bin edges as uint8, so sequences with more than 256 scored frames get
  wrapped-around edges there; here they are plain integers, so Decay is right for any length (and
  identical up to 256 frames).
* Overall: every object is one sample; J-Mean = mean of per-object J means (likewise each
  statistic); J&F-Mean = (J-Mean + F-Mean) / 2.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.core.labels import VOID

BOUNDARY_FRACTION = 0.008
METRIC_KEYS = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")
SUMMARY_KEYS = ("JF_mean",) + METRIC_KEYS


# ----------------------------------------------------------------------------------------------
# Per-frame measures
# ----------------------------------------------------------------------------------------------


def boundary_radius(shape: tuple[int, ...]) -> int:
    """Boundary tolerance in pixels for an (H, W) image: ``ceil(0.008 * sqrt(H² + W²))``."""
    return int(np.ceil(BOUNDARY_FRACTION * np.linalg.norm(np.asarray(shape[:2], dtype=np.float64))))


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-pixel boundary map of a binary mask (DAVIS convention, see the module docstring).

    Args:
        mask: (H, W) array, non-zero = foreground.

    Returns:
        (H, W) bool array, True on boundary pixels.
    """
    m = np.asarray(mask).astype(bool, copy=False)
    b = np.zeros(m.shape, dtype=bool)
    right = m[:, :-1] != m[:, 1:]  # (H, W-1): pixel differs from its right neighbour
    down = m[:-1, :] != m[1:, :]  # (H-1, W): ... from the one below
    diag = m[:-1, :-1] != m[1:, 1:]  # (H-1, W-1): ... from the lower-right one
    b[:-1, :-1] = right[:-1] | down[:, :-1] | diag
    b[-1, :-1] = right[-1]  # last row: no pixel below, horizontal transitions only
    b[:-1, -1] = down[:, -1]  # last column: vertical transitions only
    b[-1, -1] = False
    return b


def _disk_halfheights(radius: int) -> list[int]:
    """For column offsets dx = -r..r, the largest |dy| with dy² + dx² <= r² (exact integers)."""
    return [math.isqrt(radius * radius - dx * dx) for dx in range(-radius, radius + 1)]


def _count_matched(ys: np.ndarray, xs: np.ndarray, other: np.ndarray, radius: int) -> int:
    """How many points (ys, xs) have a True pixel of ``other`` within Euclidean distance ``radius``.

    Exact disk test without dilating the whole map by a 2-D disk: ``other`` is dilated vertically
    by each half-height the disk needs (cheap 1-pixel steps), and each point then looks up its
    2r + 1 column offsets in the map of the matching half-height.
    """
    h, w = other.shape
    halves = _disk_halfheights(radius)
    need = set(halves)
    wp = w + 2 * radius  # zero columns either side: lookups never leave the array
    v = np.zeros((h, wp), dtype=bool)
    v[:, radius : radius + w] = other
    levels = {0: v.ravel()} if 0 in need else {}
    for k in range(1, max(need) + 1):
        t = v.copy()
        t[1:] |= v[:-1]
        t[:-1] |= v[1:]
        v = t
        if k in need:
            levels[k] = v.ravel()
    base = ys * wp + xs + radius
    hit = np.zeros(len(ys), dtype=bool)
    for i, dx in enumerate(range(-radius, radius + 1)):
        hit |= levels[halves[i]][base + dx]
    return int(np.count_nonzero(hit))


def f_measure(pred: np.ndarray, gt: np.ndarray, radius: int | None = None) -> float:
    """Boundary F-measure of one binary prediction against one binary GT mask.

    Args:
        pred: (H, W) predicted mask (non-zero = object).
        gt: (H, W) GT mask of the same object.
        radius: Matching tolerance in pixels; default ``boundary_radius(gt.shape)``.
    """
    if radius is None:
        radius = boundary_radius(gt.shape)
    return _f_from_maps(boundary_map(pred), boundary_map(gt), radius)


def _f_from_maps(pb: np.ndarray, gb: np.ndarray, radius: int) -> float:
    """F from the predicted and GT boundary maps (same shape)."""
    p_idx = np.flatnonzero(pb)  # flatnonzero is much faster than argwhere on 2-D maps
    g_idx = np.flatnonzero(gb)
    n_fg, n_gt = len(p_idx), len(g_idx)
    if n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    elif n_fg == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        w = pb.shape[1]
        precision = _count_matched(p_idx // w, p_idx % w, gb, radius) / float(n_fg)
        recall = _count_matched(g_idx // w, g_idx % w, pb, radius) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def j_measure(pred: np.ndarray, gt: np.ndarray) -> float:
    """Region similarity (IoU) of two binary masks; 1 when both are empty."""
    p = np.asarray(pred).astype(bool, copy=False)
    g = np.asarray(gt).astype(bool, copy=False)
    union = int(np.count_nonzero(p | g))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(p & g)) / union


def _span(any_along: np.ndarray, size: int) -> tuple[int, int]:
    """Crop bounds that hold every boundary pixel of a mask occupying ``any_along``.

    Boundary pixels lie at most one pixel above/left of the foreground; one extra empty row/column
    below/right keeps the crop's own last-row/last-column rule from firing inside the image.
    """
    nz = np.flatnonzero(any_along)
    return max(int(nz[0]) - 1, 0), min(int(nz[-1]) + 2, size)


def score_frame(
    gt: np.ndarray, pred: np.ndarray, objects: list[int], radius: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every object in one frame.

    Args:
        gt: (H, W) GT id map (255 = void, treated as background).
        pred: (H, W) predicted id map, same size.
        objects: Object ids to score.
        radius: Boundary tolerance; default from the frame size.

    Returns:
        Two float arrays (J, F) with one value per object, in the order of ``objects``.
    """
    if radius is None:
        radius = boundary_radius(gt.shape)
    j = np.empty(len(objects))
    f = np.empty(len(objects))
    h, w = gt.shape
    for i, k in enumerate(objects):
        g = gt == k
        p = pred == k
        u = g | p
        rows = u.any(axis=1)
        if not rows.any():  # object absent from both: empty union, no boundaries
            j[i] = f[i] = 1.0
            continue
        y0, y1 = _span(rows, h)
        x0, x1 = _span(u[y0:y1].any(axis=0), w)
        gc, pc = g[y0:y1, x0:x1], p[y0:y1, x0:x1]
        j[i] = int(np.count_nonzero(gc & pc)) / int(np.count_nonzero(u[y0:y1, x0:x1]))
        if np.array_equal(gc, pc):  # identical masks: every boundary pixel matches
            f[i] = 1.0
            continue
        f[i] = _f_from_maps(boundary_map(pc), boundary_map(gc), radius)
    return j, f


# ----------------------------------------------------------------------------------------------
# Per-object statistics
# ----------------------------------------------------------------------------------------------


def decay_bins(n: int) -> list[slice]:
    """The four (overlapping) quarter bins used for Decay over ``n`` frames.

    Edges are ``round(linspace(1, n, 5) + 1e-10) - 1`` and bin i spans edges i..i+1 inclusive, as in
    the official code, but the edges are kept as integers (the official uint8 edges wrap beyond 256
    frames).
    """
    edges = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)
    return [slice(int(edges[i]), int(edges[i + 1]) + 1) for i in range(4)]


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, Recall (> 0.5) and Decay of one object's per-frame scores; NaN entries are skipped.

    Returns NaNs when no frame is scored.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(v))
    recall = float(np.mean(v > 0.5))
    bins = [v[s] for s in decay_bins(v.size)]
    decay = float(np.mean(bins[0]) - np.mean(bins[3]))
    return mean, recall, decay


@dataclass
class ObjectScore:
    """Scores of one object of one sequence (fractions in [0, 1]; Decay may be negative)."""

    sequence: str
    object: int
    J_mean: float
    J_recall: float
    J_decay: float
    F_mean: float
    F_recall: float
    F_decay: float
    J_frames: np.ndarray = field(repr=False)  # per scored frame; NaN where the object is not scored
    F_frames: np.ndarray = field(repr=False)
    frames: list[str] = field(repr=False)  # names of the scored frames, same length as J_frames

    def metrics(self) -> dict[str, float]:
        """The six per-object statistics keyed like the CSV columns."""
        return {k: getattr(self, k) for k in METRIC_KEYS}


def _check_ids(name: str, arr: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2:
        raise InputFileError(f"{name}: {what} must be a 2-D (H, W) id map, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8)
    if not np.issubdtype(a.dtype, np.integer):
        raise InputFileError(f"{name}: {what} must hold integer ids, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > 255):
        raise InputFileError(f"{name}: {what} ids must be in 0..255, found {a.min()}..{a.max()}")
    return a.astype(np.uint8)


@dataclass(frozen=True)
class FrameCheck:
    """What measuring one GT frame of a sequence takes (see :meth:`SequenceScorer.expect`);
    small and picklable, so frames can be measured in worker processes."""

    label: str  # "<sequence>/<frame>", for messages
    index: int  # position among the sequence's GT frames
    shape: tuple[int, int]  # (H, W) of the sequence's first GT frame
    radius: int  # boundary tolerance
    objects: tuple[int, ...]  # the sequence's object ids
    live: tuple[int, ...]  # positions in ``objects`` scored on this frame (empty: none)
    max_id: int
    contiguous: bool  # objects are 1..K


def measure_frame(
    check: FrameCheck, gt: np.ndarray, pred: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Check one GT frame (and its prediction) and measure J and F of the live objects: two
    arrays over all objects (NaN where not live), or ``(None, None)`` when nothing is scored.

    Raises:
        InputFileError: GT or prediction of the wrong size or type, a predicted id that is no
            object of the sequence.
    """
    gt = _check_ids(check.label, gt, "GT")
    if gt.shape != check.shape:
        raise InputFileError(
            f"{check.label}: GT frame is {gt.shape[1]}x{gt.shape[0]} but the sequence's first "
            f"frame is {check.shape[1]}x{check.shape[0]} (W x H)"
        )
    if check.index == 0 or pred is None:
        return None, None
    pred = _check_ids(check.label, pred, "prediction")
    if pred.shape != gt.shape:
        raise InputFileError(
            f"{check.label}: prediction is {pred.shape[1]}x{pred.shape[0]} but the GT is "
            f"{gt.shape[1]}x{gt.shape[0]} (W x H); predictions must have the GT resolution"
        )
    _check_pred_ids(check, pred)
    if not check.live:
        return None, None
    objs = check.objects
    j, f = score_frame(gt, pred, [objs[i] for i in check.live], check.radius)
    jr = np.full(len(objs), np.nan)
    fr = np.full(len(objs), np.nan)
    jr[list(check.live)], fr[list(check.live)] = j, f
    return jr, fr


def _check_pred_ids(check: FrameCheck, pred: np.ndarray) -> None:
    top = int(pred.max()) if pred.size else 0
    if top == 0 or (check.contiguous and top <= check.max_id):
        return
    allowed = np.zeros(256, dtype=bool)
    allowed[0] = True
    allowed[list(check.objects)] = True
    present = np.flatnonzero(np.bincount(pred.ravel(), minlength=256))
    bad = [int(v) for v in present if not allowed[v]]
    if bad:
        objs = list(check.objects)
        which = f"{objs}" if objs else "none (its first GT frame holds no object)"
        raise InputFileError(
            f"{check.label}: predicted id {bad[0]}"
            f"{' (and ' + str(bad[1:]) + ')' if len(bad) > 1 else ''} is not an object of the GT; "
            f"objects of this sequence: {which}. Predictions must use the GT ids (0 = background)."
        )


class SequenceScorer:
    """Accumulates one sequence frame by frame (memory: per-frame scores only).

    Feed every GT frame in order, first and last included, with :meth:`add`; the scorer leaves out
    the first and the last frame itself (official semi-supervised rule).

    Objects: ``objects`` if given, else the ids of ``first_frames`` if given, else ``1..max id`` of
    the first GT frame (void excluded) as in the official DAVIS code; an id in that range but absent
    from the GT is still an object (J = F = 1 while the prediction is empty too).

    Objects that appear later (YouTube-VOS style): ``first_frames[k]`` is the index of the frame in
    which object k first appears in the GT. That frame is the object's given reference mask, so the
    object is scored only on frames after it; the sequence's last frame stays excluded (so with all
    first frames 0 the result equals the DAVIS rule). Its statistics use its own scored frames only;
    frames before its start are NaN in ``J_frames``/``F_frames``.

    Args:
        sequence: Sequence name (for messages and results).
        objects: Object ids (1..254).
        first_frames: Object id -> index of its first GT frame.
        skip_last: Leave out the last frame (DAVIS semi-supervised rule). Set False for protocols
            that score it.
    """

    def __init__(
        self,
        sequence: str,
        objects: list[int] | None = None,
        first_frames: dict[int, int] | None = None,
        *,
        skip_last: bool = True,
    ) -> None:
        self.sequence = sequence
        self._first = {int(k): int(v) for k, v in (first_frames or {}).items()}
        if objects is None and first_frames is not None:
            objects = sorted(self._first)
        self._objects: list[int] | None = None
        if objects is not None:
            self._set_objects([int(k) for k in objects])
            missing = set(self._first) - set(self._objects or [])
            if missing:
                raise ConfigError(f"{sequence}: first_frames names ids {sorted(missing)} that are not objects")
        self._skip_last = skip_last
        self._n = 0
        self._shape: tuple[int, int] | None = None
        self._radius = 0
        self._names: list[str] = []
        self._j: list[np.ndarray | None] = []  # one row per frame; None where not scored
        self._f: list[np.ndarray | None] = []
        self._unpredicted: str | None = None  # a non-first frame fed without a prediction

    def _set_objects(self, objects: list[int]) -> None:
        bad = [k for k in objects if not 1 <= k <= 254]
        if bad:
            raise ConfigError(f"{self.sequence}: object ids must be in 1..254 (0 = background, 255 = void), got {bad}")
        if len(set(objects)) != len(objects):
            raise ConfigError(f"{self.sequence}: duplicate object ids in {objects}")
        self._objects = objects
        self._max_id = max(objects, default=0)
        # ids 1..K contiguous: "pred.max() <= K" already proves every id is allowed
        self._contiguous = objects == list(range(1, len(objects) + 1))
        self._start = np.array([self._first.get(k, 0) for k in objects], dtype=np.int64)

    @property
    def frames(self) -> int:
        """GT frames registered so far."""
        return self._n

    @property
    def objects(self) -> list[int]:
        """The object ids scored (known after the first frame)."""
        return list(self._objects or [])

    def add(self, gt: np.ndarray, pred: np.ndarray | None, frame: str | None = None) -> None:
        """Feed the next GT frame and its prediction.

        Args:
            gt: (H, W) GT id map (uint8, 255 = void).
            pred: (H, W) predicted id map. May be None for frames that are never scored (the
                first and the last); a later frame then raises.
            frame: Frame name (default: its index, 5 digits).

        Raises:
            InputFileError: size mismatch, a predicted id that is not an object, a missing
                prediction for a scored frame.
        """
        if self._n == 0:
            self.expect(frame, gt0=gt)
            return
        check = self.expect(frame, predicted=pred is not None)
        self.put(check, *measure_frame(check, gt, pred))

    def expect(
        self, frame: str | None = None, *, predicted: bool = True, gt0: np.ndarray | None = None
    ) -> FrameCheck:
        """Register the next GT frame and return what measuring it takes (:func:`measure_frame`,
        which may run in another process); hand the result to :meth:`put`. Frames are
        registered in order; results may come back in any order.

        The first frame is the given reference: pass its GT map as ``gt0`` (it fixes the size
        and, unless given, the objects); it is never scored. ``predicted=False``: the frame has
        no prediction (allowed for the last frame only; a later frame then raises).
        """
        index = self._n
        name = frame if frame is not None else f"{index:05d}"
        if self._unpredicted is not None:
            raise InputFileError(
                f"{self.sequence}/{self._unpredicted}: no prediction given for a scored frame "
                "(only the first and last frames may lack one)"
            )
        if index == 0:
            if gt0 is None:
                raise ValueError("the first frame's GT map (gt0) fixes the sequence's size and objects")
            gt0 = _check_ids(f"{self.sequence}/{name}", gt0, "GT")
            self._shape = (int(gt0.shape[0]), int(gt0.shape[1]))
            self._radius = boundary_radius(gt0.shape)
            if self._objects is None:
                counts = np.bincount(gt0.ravel(), minlength=256)
                present = np.flatnonzero(counts[1:VOID]) + 1
                self._set_objects(list(range(1, int(present[-1]) + 1)) if present.size else [])
        self._n += 1
        self._names.append(name)
        self._j.append(None)
        self._f.append(None)
        if index > 0 and not predicted:
            self._unpredicted = name
        assert self._shape is not None
        return FrameCheck(
            label=f"{self.sequence}/{name}",
            index=index,
            shape=self._shape,
            radius=self._radius,
            objects=tuple(self._objects or []),
            live=tuple(i for i, s in enumerate(self._start) if index > s) if index > 0 and predicted else (),
            max_id=self._max_id,
            contiguous=self._contiguous,
        )

    def put(self, check: FrameCheck, j: np.ndarray | None, f: np.ndarray | None) -> None:
        """Store the measures of a frame registered with :meth:`expect` (None: not scored)."""
        self._j[check.index], self._f[check.index] = j, f

    def result(self) -> list[ObjectScore]:
        """Per-object scores over the scored frames (first and last frame left out)."""
        if self._n == 0:
            raise InputFileError(f"{self.sequence}: no frame was fed to the scorer")
        end = self._n - 1 if self._skip_last else self._n
        if not self._skip_last and self._unpredicted is not None:
            raise InputFileError(f"{self.sequence}/{self._unpredicted}: no prediction given for a scored frame")
        idx = range(1, max(end, 1))
        objs = self._objects or []
        n_obj = len(objs)
        j = np.full((len(idx), n_obj), np.nan)
        f = np.full((len(idx), n_obj), np.nan)
        for row, t in enumerate(idx):
            if self._j[t] is not None:
                j[row], f[row] = self._j[t], self._f[t]
        names = [self._names[t] for t in idx]
        out = []
        for c, k in enumerate(objs):
            jm, jr, jd = statistics(j[:, c])
            fm, fr, fd = statistics(f[:, c])
            out.append(
                ObjectScore(self.sequence, k, jm, jr, jd, fm, fr, fd, j[:, c].copy(), f[:, c].copy(), list(names))
            )
        return out


def score_sequence(
    sequence: str,
    gts: list[np.ndarray] | np.ndarray,
    preds: list[np.ndarray | None] | np.ndarray,
    frames: list[str] | None = None,
    objects: list[int] | None = None,
    first_frames: dict[int, int] | None = None,
) -> list[ObjectScore]:
    """Score a whole sequence held in memory (see :class:`SequenceScorer` for the rules).

    Args:
        sequence: Name.
        gts: GT id maps of every frame, first and last included.
        preds: Predicted id maps, one per GT frame.
        frames: Frame names (default: indices).
        objects: Object ids (default: 1..max id of the first GT frame).
        first_frames: Object id -> first GT frame index, for objects appearing later.
    """
    if len(gts) != len(preds):
        raise InputFileError(f"{sequence}: {len(gts)} GT frames but {len(preds)} predictions")
    scorer = SequenceScorer(sequence, objects, first_frames)
    for t, (g, p) in enumerate(zip(gts, preds)):
        scorer.add(g, p, None if frames is None else frames[t])
    return scorer.result()


# ----------------------------------------------------------------------------------------------
# Aggregation and files
# ----------------------------------------------------------------------------------------------


def summarize(scores: list[ObjectScore]) -> dict[str, float]:
    """Overall statistics: mean over objects of each per-object statistic, and J&F-Mean.

    Objects without any scored frame (all-NaN statistics, e.g. 2-frame sequences) are left out.
    Returns NaNs when no object is left.
    """
    rows = [s for s in scores if not math.isnan(s.J_mean)]
    if not rows:
        return dict.fromkeys(SUMMARY_KEYS, math.nan)
    out = {k: float(np.mean([getattr(s, k) for s in rows])) for k in METRIC_KEYS}
    return {"JF_mean": (out["J_mean"] + out["F_mean"]) / 2, **out}


def group_metrics(scores: list[ObjectScore], group_of: Callable[[str, int], str | None]) -> dict[str, float | None]:
    """J and F means over the ``seen`` and ``unseen`` objects and their mean ``overall`` (YouTube-VOS).

    ``group_of(sequence, object)`` names an object's group; when it has none (``None``) for any
    object, nothing is added. Objects without a scored frame are left out. A group without
    objects gives ``None`` and ``overall`` is then the mean of the groups present.
    """
    groups: dict[str, list[ObjectScore]] = {"seen": [], "unseen": []}
    for s in scores:
        g = group_of(s.sequence, int(s.object))
        if g is None:
            return {}
        if g not in groups:
            raise ValueError(f"object group {g!r} of {s.sequence}/{s.object}: expected 'seen' or 'unseen'")
        if not math.isnan(s.J_mean):
            groups[g].append(s)
    out: dict[str, float | None] = {}
    for g, rows in groups.items():
        out[f"J_{g}"] = float(np.mean([r.J_mean for r in rows])) if rows else None
        out[f"F_{g}"] = float(np.mean([r.F_mean for r in rows])) if rows else None
    present = [v for v in out.values() if v is not None]
    out["overall"] = float(np.mean(present)) if present else None
    return out


def _fmt(v: float) -> str:
    return repr(float(v))  # shortest text that reads back to the same float


def per_object_csv_text(scores: list[ObjectScore]) -> str:
    """The per-object CSV as text (columns ``sequence,object,J_mean,...,F_decay``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("sequence", "object") + METRIC_KEYS)
    for s in scores:
        w.writerow([s.sequence, s.object] + [_fmt(getattr(s, k)) for k in METRIC_KEYS])
    return buf.getvalue()


def write_per_object_csv(path: str | os.PathLike[str], scores: list[ObjectScore]) -> None:
    """Write ``sequence,object,J_mean,J_recall,J_decay,F_mean,F_recall,F_decay`` (fractions), atomically.

    Values are written at full precision (shortest round-trip text); an object without any scored
    frame gets ``nan``.
    """
    from vosbench.core.io import atomic_write_text

    atomic_write_text(Path(path), per_object_csv_text(scores))


def write_per_frame_csv(path: str | os.PathLike[str], scores: list[ObjectScore]) -> None:
    """Write ``sequence,object,frame,J,F`` for every scored (object, frame), atomically."""
    from vosbench.core.io import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("sequence", "object", "frame", "J", "F"))
    for s in scores:
        for name, j, f in zip(s.frames, s.J_frames, s.F_frames):
            if not math.isnan(j):
                w.writerow((s.sequence, s.object, name, _fmt(j), _fmt(f)))
    atomic_write_text(Path(path), buf.getvalue())
