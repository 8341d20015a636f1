"""Scoring YouTube-VOS predictions made by any tool (the engine of ``vosbench eval --benchmark ytvos``).

Inputs:

* predictions: a folder ``PRED/<video>/<frame>.png`` or a ``submission.zip`` with members
  ``Annotations/<video>/<frame>.png`` (the evaluation servers' layout), read in memory, never
  extracted. Every member name is hostile input: each path component is checked with
  :func:`~vosbench.core.safepath.check_name`, duplicate and oversized members are refused.
* GT: a folder ``GT/<video>/<frame>.png`` with the full annotation (every object) of every
  ``meta.json`` frame, e.g. the train split's ``Annotations`` or a ``valid_gt/Annotations``.
* ``meta.json`` (the YouTube-VOS file, read by the dataset adapter's own parser).

Rules, the same as a ``vosbench run`` on a YouTube-VOS set (``vosbench.runs.vos.scorer_for``): the
scored frames of a video are its ``meta.json`` frames (union over objects, in frame order); an
object is scored from the frame after its first ``meta.json`` frame; the video's last frame is not
scored. Seen / unseen: ``unseen`` (a file, one category per line), else ``unseen_categories.txt``
beside the split folder or inside it, else the categories absent from ``<split>/../train/meta.json``
(the adapter's order); overall = mean of J seen, F seen, J unseen, F unseen.
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.labels import decode_label_png, read_label_png
from vosbench.core.safepath import check_name
from vosbench.datasets.ytvos import _frame_key, _load_meta, _read_list
from vosbench.core.workers import HostPool, usable_cpus
from vosbench.scoring.jf import ObjectScore, SequenceScorer, group_metrics, summarize

#: zip members larger than this (uncompressed) are refused: a label PNG is a few hundred kB at most
MAX_MEMBER_BYTES = 64 * 1024 * 1024
ZIP_PREFIX = "Annotations"


class FolderPredictions:
    """Predictions in ``root/<video>/<frame>.png``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{self.root}: prediction folder not found")

    def where(self, video: str, frame: str) -> str:
        return str(self.root / video / f"{frame}.png")

    def has_video(self, video: str) -> bool:
        return (self.root / video).is_dir()

    def has(self, video: str, frame: str) -> bool:
        return (self.root / video / f"{frame}.png").is_file()

    def read(self, video: str, frame: str) -> np.ndarray:
        return read_label_png(self.root / video / f"{frame}.png")


class ZipPredictions:
    """Predictions in a ``submission.zip`` (``Annotations/<video>/<frame>.png``), read in memory."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.zf = zipfile.ZipFile(self.path)
            infos = self.zf.infolist()
        except FileNotFoundError:
            raise InputFileError(f"{self.path}: file not found") from None
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise InputFileError(f"{self.path}: cannot read zip archive ({e}); the file is corrupt or not a zip") from None
        self.members: dict[tuple[str, str], zipfile.ZipInfo] = {}
        self.videos: set[str] = set()
        for info in infos:
            name = info.filename
            parts = name.rstrip("/").split("/") if info.is_dir() else name.split("/")
            for part in parts:  # hostile names: '..', absolute paths, backslashes, control characters
                check_name(part, self.path, None, f"zip member {name!r}: component")
            if info.is_dir() or not name.lower().endswith(".png"):
                continue
            if len(parts) != 3 or parts[0] != ZIP_PREFIX:
                raise InputFileError(
                    f"{self.path}: member {name!r} is not {ZIP_PREFIX}/<video>/<frame>.png (the layout of the "
                    "YouTube-VOS evaluation server and of a vosbench run's submission.zip)"
                )
            video, frame = parts[1], parts[2][: -len(".png")]
            check_name(frame, self.path, None, f"zip member {name!r}: frame name")
            if (video, frame) in self.members:
                raise InputFileError(f"{self.path}: member {name!r} appears twice")
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputFileError(
                    f"{self.path}: member {name!r} is {info.file_size} bytes uncompressed (limit "
                    f"{MAX_MEMBER_BYTES}); not a label PNG"
                )
            self.members[(video, frame)] = info
            self.videos.add(video)
        if not self.members:
            raise InputFileError(f"{self.path}: no {ZIP_PREFIX}/<video>/<frame>.png member")

    def where(self, video: str, frame: str) -> str:
        return f"{self.path}:{ZIP_PREFIX}/{video}/{frame}.png"

    def has_video(self, video: str) -> bool:
        return video in self.videos

    def has(self, video: str, frame: str) -> bool:
        return (video, frame) in self.members

    def read(self, video: str, frame: str) -> np.ndarray:
        info = self.members[(video, frame)]
        try:
            data = self.zf.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise InputFileError(f"{self.where(video, frame)}: cannot read zip member ({e})") from None
        arr, _ = decode_label_png(self.where(video, frame), data=data)
        return arr

    def close(self) -> None:
        self.zf.close()


Predictions = FolderPredictions | ZipPredictions


def open_predictions(path: str | os.PathLike[str]) -> Predictions:
    """A folder, or a zip file (by content, whatever its name)."""
    p = Path(path)
    if p.is_dir():
        return FolderPredictions(p)
    if not p.exists():
        raise InputFileError(f"{p}: predictions not found (a folder <video>/<frame>.png or a submission.zip)")
    return ZipPredictions(p)


def video_frames(objects: dict[int, dict]) -> tuple[list[str], dict[int, int]]:
    """A ``meta.json`` video -> (its scored frames in order, object id -> position of its first frame).

    These are the GT frames of a run's sequence and the ``first_frames`` of its scorer: a run
    scores the ``meta.json`` frames from the first object's first frame on, and every listed frame
    comes at or after it.
    """
    frames = sorted({f for o in objects.values() for f in o["frames"]}, key=_frame_key)
    pos = {f: i for i, f in enumerate(frames)}
    return frames, {oid: pos[o["frames"][0]] for oid, o in sorted(objects.items())}


def scorer_for_video(video: str, objects: dict[int, dict]) -> SequenceScorer:
    """The scorer a run uses for this video (``objects``: its parsed ``meta.json`` entry)."""
    _, first = video_frames(objects)
    return SequenceScorer(video, objects=sorted(first), first_frames=first)


def load_unseen(meta_path: Path, unseen_file: str | os.PathLike[str] | None) -> tuple[set[str] | None, str | None]:
    """Unseen categories and where they came from, by the adapter's rule (module docstring);
    ``(None, None)`` without any category information."""
    split_dir = meta_path.parent
    base = split_dir.parent
    if unseen_file is not None:
        f = Path(unseen_file).expanduser()
        return set(_read_list(f, "--unseen category list")), str(f)
    for f in (base / "unseen_categories.txt", split_dir / "unseen_categories.txt"):
        if f.is_file():
            return set(_read_list(f, "unseen-category list")), str(f)
    train_meta = base / "train" / "meta.json"
    if train_meta.is_file():
        seen = {o["category"] for v in _load_meta(train_meta, "train meta.json").values() for o in v.values()}
        this = _load_meta(meta_path, "meta.json")
        return {o["category"] for v in this.values() for o in v.values()} - seen, f"categories absent from {train_meta}"
    return None, None


@dataclass
class YTVOSEvaluation:
    """Scores of a YouTube-VOS evaluation.

    Attributes:
        scores: One entry per (video, object), videos in name order.
        metrics: ``summarize`` (over all objects) plus ``J_seen`` ... ``overall`` when categories
            are known (fractions; ``None`` for an empty group).
        frames: Video -> number of scored ``meta.json`` frames.
        categories: Object -> category (``(video, id)`` keys).
        unseen: Unseen categories, ``None`` without category information.
        category_source: Where the split came from.
        seconds: Wall time.
    """

    scores: list[ObjectScore]
    metrics: dict[str, float | None]
    frames: dict[str, int]
    categories: dict[tuple[str, int], str | None] = field(default_factory=dict)
    unseen: set[str] | None = None
    category_source: str | None = None
    seconds: float = 0.0

    def group(self, video: str, obj: int) -> str | None:
        if self.unseen is None:
            return None
        return "unseen" if self.categories.get((video, int(obj))) in self.unseen else "seen"


#: predictions opened by this process (worker processes open their own: a zip's file position is
#: not to be shared between processes)
_PREDICTIONS: dict[tuple[int, str], Predictions] = {}


def _predictions(path: Path) -> Predictions:
    key = (os.getpid(), str(path))
    if key not in _PREDICTIONS:
        _PREDICTIONS[key] = open_predictions(path)
    return _PREDICTIONS[key]


def _check_video(gt_root: Path, meta_path: Path, preds: Predictions, video: str, objects: dict[int, dict]) -> None:
    """Every file the scoring of ``video`` reads is there (else an error naming what is missing)."""
    if not objects:
        raise DatasetLayoutError(f"{meta_path}: video {video!r} has no objects")
    frames, _ = video_frames(objects)
    gdir = gt_root / video
    missing_gt = [f for f in frames if not (gdir / f"{f}.png").is_file()]
    if missing_gt:
        raise DatasetLayoutError(
            f"{gdir}: GT of video {video!r} lacks {len(missing_gt)} meta.json frame(s) "
            f"({', '.join(missing_gt[:3])}{', ...' if len(missing_gt) > 3 else ''}); every meta.json frame "
            "needs a full GT PNG (or choose videos with --sequences)"
        )
    if not preds.has_video(video):
        hint = ""
        if isinstance(preds, FolderPredictions) and (preds.root / ZIP_PREFIX / video).is_dir():
            hint = f" (an extracted submission? use {preds.root / ZIP_PREFIX})"
        raise InputFileError(
            f"{preds.where(video, frames[0]).rsplit('/', 1)[0]}: no predictions for video {video!r}; "
            f"predict every meta.json video or choose some with --sequences{hint}"
        )
    scored = frames[1:-1]  # the first and the last frame are never scored
    missing = [f for f in scored if not preds.has(video, f)]
    if missing:
        raise InputFileError(
            f"{preds.where(video, missing[0])}: {len(missing)} prediction frame(s) of video {video!r} missing "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); expected one PNG per "
            "meta.json frame"
        )


def _score_video(job: tuple[Path, Path, str, dict[int, dict]]) -> tuple[list[ObjectScore], int]:
    """Scores of one video (checked by :func:`_check_video`) and its number of meta.json frames."""
    gt_root, pred, video, objects = job
    preds = _predictions(pred)
    frames, _ = video_frames(objects)
    gdir = gt_root / video
    scorer = scorer_for_video(video, objects)
    last = len(frames) - 1
    for t, f in enumerate(frames):
        gt = read_label_png(gdir / f"{f}.png")
        p = preds.read(video, f) if 0 < t < last else None
        try:
            scorer.add(gt, p, f)
        except InputFileError as e:
            raise InputFileError(f"{e} [prediction {preds.where(video, f)}; GT {gdir / f'{f}.png'}]") from None
    return scorer.result(), len(frames)


def evaluate_ytvos(
    gt_root: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    meta: str | os.PathLike[str],
    unseen: str | os.PathLike[str] | None = None,
    sequences: list[str] | None = None,
    on_video_done: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> YTVOSEvaluation:
    """Score YouTube-VOS predictions (folder or zip) against full GT, from first appearance, in
    ``workers`` processes (default: the CPUs; 1 = in this process), one video per job.

    Raises:
        DatasetLayoutError, InputFileError: a missing or malformed file, naming it.
    """
    start = time.perf_counter()
    gt_root, meta_path = Path(gt_root), Path(meta)
    videos = _load_meta(meta_path, "--meta")
    if not gt_root.is_dir():
        raise DatasetLayoutError(f"{gt_root}: GT annotation folder not found")
    names = sorted(videos)
    if sequences:
        unknown = [s for s in sequences if s not in videos]
        if unknown:
            raise DatasetLayoutError(f"{meta_path}: no video {unknown[0]!r}; --sequences must name meta.json videos")
        names = list(dict.fromkeys(sequences))
    unseen_set, source = load_unseen(meta_path, unseen)
    preds = open_predictions(pred)
    scores: list[ObjectScore] = []
    frames_of: dict[str, int] = {}
    categories: dict[tuple[str, int], str | None] = {}
    try:
        jobs = [(gt_root, Path(pred), video, videos[video]) for video in names]
        for _, _, video, objects in jobs:  # every file is there before anything is scored
            _check_video(gt_root, meta_path, preds, video, objects)
        n_workers = max(1, min(workers or usable_cpus(), len(jobs)))
        if n_workers == 1:
            _PREDICTIONS[(os.getpid(), str(Path(pred)))] = preds
            done: Iterator[tuple[list[ObjectScore], int]] = (_score_video(job) for job in jobs)
        else:
            pool = HostPool(n_workers)
            futures = [pool.submit(_score_video, job) for job in jobs]
            done = (f.result()[0] for f in futures)  # in video order: the first video's error is the one raised
        try:
            for (_, _, video, objects), (got, n_frames) in zip(jobs, done):
                scores.extend(got)
                frames_of[video] = n_frames
                for oid, o in objects.items():
                    categories[(video, oid)] = o["category"]
                if on_video_done:
                    on_video_done(video)
        finally:
            if n_workers > 1:
                pool.close(cancel=True)
    finally:
        _PREDICTIONS.pop((os.getpid(), str(Path(pred))), None)
        if isinstance(preds, ZipPredictions):
            preds.close()
    result = YTVOSEvaluation(scores, {}, frames_of, categories, unseen_set, source)
    metrics: dict[str, float | None] = {**summarize(scores), **group_metrics(scores, result.group)}
    result.metrics = metrics
    result.seconds = time.perf_counter() - start
    return result
