"""Scoring YouTube-VOS predictions made by any tool (the engine of ``vosbench eval --benchmark ytvos``).

Inputs:

* predictions: a folder ``PRED/<video>/<frame>.png`` or a ``submission.zip`` with members
  ``Annotations/<video>/<frame>.png`` (the evaluation servers' layout), read in memory, never
  extracted. Every member is hostile input: each path component is checked with
  :func:`~vosbench.core.safepath.check_name`; duplicate, encrypted and oversized members, unknown
  compression methods and archives over the limits below are refused with one line naming the zip
  and the member. ``zipfile`` stops reading a member at its declared size (and then checks its
  CRC), so a member never yields more than the size checked here.
* GT: a folder ``GT/<video>/<frame>.png`` with the full annotation (every object) of every
  ``meta.json`` frame, e.g. the train split's ``Annotations`` or a ``valid_gt/Annotations``.
* ``meta.json`` (the YouTube-VOS file, read by the dataset adapter's own parser).

Rules, those of a ``vosbench run`` on a YouTube-VOS set, through the same code: the scored frames
of a video are its ``meta.json`` frames (:func:`vosbench.datasets.ytvos.meta_frames`); an object is
scored from the frame after its first ``meta.json`` frame and the video's last frame is not scored
(the scorer of :func:`vosbench.evaluate.base.sequence_scorer`). Seen / unseen: the adapter's rule
(:func:`vosbench.datasets.ytvos.load_unseen_categories`) with ``unseen`` as the list file and the
``meta.json`` folder as the split folder; overall = mean of J seen, F seen, J unseen, F unseen.
"""

from __future__ import annotations

import math
import os
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.labels import decode_label_png, read_label_png
from vosbench.core.safepath import check_name
from vosbench.core.version import __version__
from vosbench.core.workers import HostPool, usable_cpus
from vosbench.datasets.ytvos import MetaObject, load_meta, load_unseen_categories, meta_frames
from vosbench.evaluate.base import JSON, Evaluation, MetricValue, ProgressHook, object_evaluation, sequence_scorer
from vosbench.scoring.jf import ObjectScore, SequenceScorer, group_metrics, summarize

#: zip members larger than this (uncompressed, declared) are refused: a label PNG is a few hundred kB at most
MAX_MEMBER_BYTES = 64 * 1024 * 1024
#: a zip with more members is refused (YouTube-VOS valid and test list about 14,000 frames each)
MAX_MEMBERS = 200_000
#: a zip whose PNG members declare more bytes in all (uncompressed) is refused (a valid-set submission: ~0.3 GB)
MAX_TOTAL_BYTES = 4 * 1024**3
#: compression methods zipfile reads: stored, deflate, bzip2, lzma
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
           zipfile.ZIP_LZMA: "lzma"}
ZIP_PREFIX = "Annotations"
RULES = ("YouTube-VOS: meta.json frames; each object scored from the frame after its first appearance, "
         "last frame excluded; overall = mean of J_seen, F_seen, J_unseen, F_unseen")


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
        if len(infos) > MAX_MEMBERS:
            raise InputFileError(
                f"{self.path}: {len(infos)} zip members (limit {MAX_MEMBERS}); not a YouTube-VOS submission"
            )
        self.members: dict[tuple[str, str], zipfile.ZipInfo] = {}
        self.videos: set[str] = set()
        total = 0
        for info in infos:
            key = self._member(info)
            if key is None:
                continue
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise InputFileError(
                    f"{self.path}: the PNG members up to {info.filename!r} declare more than {MAX_TOTAL_BYTES} bytes "
                    f"uncompressed in all (limit {MAX_TOTAL_BYTES}); not a YouTube-VOS submission (a zip bomb?)"
                )
            self.members[key] = info
            self.videos.add(key[0])
        if not self.members:
            raise InputFileError(f"{self.path}: no {ZIP_PREFIX}/<video>/<frame>.png member")

    def _member(self, info: zipfile.ZipInfo) -> tuple[str, str] | None:
        """(video, frame) of a label PNG member, ``None`` for a member that is not one (a folder, a
        text file); refuses a hostile name, a duplicate, an encrypted or oversized member and an
        unknown compression method."""
        name = info.filename
        parts = name.rstrip("/").split("/") if info.is_dir() else name.split("/")
        for part in parts:  # hostile names: '..', absolute paths, backslashes, control characters
            check_name(part, self.path, None, f"zip member {name!r}: component")
        if info.is_dir() or not name.lower().endswith(".png"):
            return None
        if len(parts) != 3 or parts[0] != ZIP_PREFIX:
            raise InputFileError(
                f"{self.path}: member {name!r} is not {ZIP_PREFIX}/<video>/<frame>.png (the layout of the "
                "YouTube-VOS evaluation server and of a vosbench run's submission.zip)"
            )
        video, frame = parts[1], parts[2][: -len(".png")]
        check_name(frame, self.path, None, f"zip member {name!r}: frame name")
        if (video, frame) in self.members:
            raise InputFileError(f"{self.path}: member {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise InputFileError(
                f"{self.path}: member {name!r} is encrypted; vosbench reads unencrypted zips only (pack the PNGs "
                "again without a password)"
            )
        if info.compress_type not in METHODS:
            raise InputFileError(
                f"{self.path}: member {name!r} uses compression method {info.compress_type}; supported: "
                + ", ".join(f"{label} ({code})" for code, label in METHODS.items())
            )
        if info.file_size > MAX_MEMBER_BYTES:
            raise InputFileError(
                f"{self.path}: member {name!r} is {info.file_size} bytes uncompressed (limit "
                f"{MAX_MEMBER_BYTES}); not a label PNG"
            )
        return video, frame

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
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as e:
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


def video_scorer(video: str, objects: Mapping[int, MetaObject]) -> tuple[list[str], SequenceScorer]:
    """A ``meta.json`` video's scored frames and its scorer, as a run sets them up: the ``meta.json``
    frames, each object scored from the frame after its first one."""
    frames = meta_frames(objects)
    return frames, sequence_scorer(video, frames, {oid: o["frames"][0] for oid, o in objects.items()})


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
        meta: The ``meta.json`` read.
    """

    scores: list[ObjectScore]
    metrics: dict[str, float | None]
    frames: dict[str, int]
    categories: dict[tuple[str, int], str | None] = field(default_factory=dict)
    unseen: set[str | None] | None = None
    category_source: str | None = None
    seconds: float = 0.0
    meta: Path = Path("meta.json")

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


def _check_video(
    gt_root: Path, meta_path: Path, preds: Predictions, video: str, objects: Mapping[int, MetaObject]
) -> None:
    """Every file the scoring of ``video`` reads is there (else an error naming what is missing)."""
    if not objects:
        raise DatasetLayoutError(f"{meta_path}: video {video!r} has no objects")
    frames = meta_frames(objects)
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


def _score_video(job: tuple[Path, Path, str, dict[int, MetaObject]]) -> tuple[list[ObjectScore], int]:
    """Scores of one video (checked by :func:`_check_video`) and its number of meta.json frames."""
    gt_root, pred, video, objects = job
    preds = _predictions(pred)
    frames, scorer = video_scorer(video, objects)
    gdir = gt_root / video
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
    progress: ProgressHook | None = None,
    workers: int | None = None,
) -> YTVOSEvaluation:
    """Score YouTube-VOS predictions (folder or zip) against full GT, from first appearance, in
    ``workers`` processes (default: the CPUs; 1 = in this process), one video per job.

    Raises:
        DatasetLayoutError, InputFileError: a missing or malformed file, naming it.
    """
    start = time.perf_counter()
    gt_root, meta_path = Path(gt_root), Path(meta)
    videos = load_meta(meta_path, "--meta")
    if not gt_root.is_dir():
        raise DatasetLayoutError(f"{gt_root}: GT annotation folder not found")
    names = sorted(videos)
    if sequences:
        unknown = [s for s in sequences if s not in videos]
        if unknown:
            raise DatasetLayoutError(f"{meta_path}: no video {unknown[0]!r}; --sequences must name meta.json videos")
        names = list(dict.fromkeys(sequences))
    what = "--unseen category list" if unseen is not None else "unseen-category list"
    unseen_set, source = load_unseen_categories(videos, meta_path.parent, meta_path.parent.parent, unseen, what=what)
    jobs = [(gt_root, Path(pred), video, videos[video]) for video in names]
    result = YTVOSEvaluation([], {}, {}, {}, unseen_set, source, meta=meta_path)
    for video, got, n_frames in _score_videos(jobs, gt_root, Path(pred), meta_path, workers, progress):
        result.scores.extend(got)
        result.frames[video] = n_frames
        for oid, o in videos[video].items():
            result.categories[(video, oid)] = o["category"]
    result.metrics = {**summarize(result.scores), **group_metrics(result.scores, result.group)}
    result.seconds = time.perf_counter() - start
    return result


def _score_videos(
    jobs: list[tuple[Path, Path, str, dict[int, MetaObject]]],
    gt_root: Path,
    pred: Path,
    meta_path: Path,
    workers: int | None,
    progress: ProgressHook | None,
) -> Iterator[tuple[str, list[ObjectScore], int]]:
    """Check every video's files, then score them (in ``workers`` processes): (video, its scores, its
    number of meta.json frames) in job order."""
    preds = open_predictions(pred)
    try:
        for _, _, video, objects in jobs:  # every file is there before anything is scored
            _check_video(gt_root, meta_path, preds, video, objects)
        if progress:
            progress(0, len(jobs))
        n_workers = max(1, min(workers or usable_cpus(), len(jobs)))
        if n_workers == 1:
            _PREDICTIONS[(os.getpid(), str(pred))] = preds
            for i, job in enumerate(jobs, start=1):
                yield (job[2], *_score_video(job))
                if progress:
                    progress(i, len(jobs))
            return
        with HostPool(n_workers) as pool:
            futures = [pool.submit(_score_video, job) for job in jobs]
            for i, (job, future) in enumerate(zip(jobs, futures), start=1):  # in order: the first error is raised
                yield (job[2], *future.result()[0])
                if progress:
                    progress(i, len(jobs))
    finally:
        _PREDICTIONS.pop((os.getpid(), str(pred)), None)
        if isinstance(preds, ZipPredictions):
            preds.close()


def evaluate(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    *,
    meta: str | os.PathLike[str],
    unseen: str | os.PathLike[str] | None = None,
    sequences: list[str] | None = None,
    workers: int | None = None,
    progress: ProgressHook | None = None,
) -> Evaluation[YTVOSEvaluation]:
    """YouTube-VOS J/F of ``pred`` (see :func:`evaluate_ytvos`) as an :class:`Evaluation`."""
    gt, pred, meta = Path(gt), Path(pred), Path(meta)
    res = evaluate_ytvos(gt, pred, meta, unseen, sequences, progress, workers)
    m = res.metrics
    empty = None
    if m.get("JF_mean") is None or math.isnan(float(m["JF_mean"] or math.nan)):
        empty = (f"{meta}: nothing to score: no object has a frame between its first appearance and its video's "
                 "last meta.json frame")
    unseen_list = sorted(res.unseen, key=lambda c: (c is None, c or "")) if res.unseen is not None else None
    facts: dict[str, JSON] = {
        "benchmark": "ytvos",
        "objects": len(res.scores),
        "sequences": len(res.frames),
        "frames_per_sequence": res.frames,
        "categories": res.category_source,
        "unseen_categories": unseen_list,
        "gt": str(gt.resolve()),
        "pred": str(pred.resolve()),
        "meta": str(meta.resolve()),
        "rules": RULES,
        "vosbench_version": __version__,
        "seconds": round(res.seconds, 3),
    }
    metrics: dict[str, MetricValue] = dict(m)  # None for a group without objects
    return object_evaluation(
        "ytvos", pred, res.scores, metrics, facts, res.frames, res.seconds, res, empty
    )
