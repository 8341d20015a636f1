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

from dataclasses import dataclass

import numpy as np

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.core.labels import VOID
from vosbench.scoring.measures import (
    BOUNDARY_FRACTION,
    boundary_map,
    boundary_radius,
    f_measure,
    j_measure,
    score_frame,
)
from vosbench.scoring.objects import (
    METRIC_KEYS,
    SUMMARY_KEYS,
    ObjectScore,
    decay_bins,
    group_metrics,
    per_object_csv_text,
    statistics,
    summarize,
    write_per_frame_csv,
    write_per_object_csv,
)

#: the per-frame measures (scoring.measures) and the per-object statistics and files
#: (scoring.objects) are re-exported: runs, evaluators and tests import them from here
__all__ = [
    "BOUNDARY_FRACTION",
    "METRIC_KEYS",
    "SUMMARY_KEYS",
    "FrameCheck",
    "ObjectScore",
    "SequenceScorer",
    "boundary_map",
    "boundary_radius",
    "decay_bins",
    "f_measure",
    "group_metrics",
    "j_measure",
    "measure_frame",
    "per_object_csv_text",
    "score_frame",
    "score_sequence",
    "statistics",
    "summarize",
    "write_per_frame_csv",
    "write_per_object_csv",
]


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
