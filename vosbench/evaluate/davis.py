"""Scoring prediction folders against GT annotation folders (the engine of ``vosbench eval``).

Layout: ``GT_DIR/<sequence>/<frame>.png`` (e.g. ``DAVIS/Annotations/480p``) and
``PRED_DIR/<sequence>/<frame>.png`` with the GT file names. Only the scored frames (all but the
first and the last of each sequence) need a prediction; each PNG is decoded once. Neither folder
is ever written to.

Formats:

* GT: DAVIS-2017 palette PNGs (ids as stored, 255 = void) or DAVIS-2016 binary masks. A sequence
  is read as DAVIS-2016 binary when its first GT frame is a greyscale PNG (mode ``L``/``1``/``I``,
  not palette) whose values are all 0 or 255; then object 1 = value > 128 in every GT frame, and
  there is no void. ``binary=True/False`` forces the choice for every sequence.
* Predictions: palette PNGs (ids = palette indices) or greyscale PNGs (ids = grey values). In a
  binary sequence a greyscale prediction is read with the same rule as the GT (object 1 = value >
  128), except that a 0/1 mask (maximum value 1) is taken as ids; palette predictions are ids.
"""

from __future__ import annotations

import difflib
import math
import os
import time
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.labels import decode_label_png, is_binary_mask, to_binary
from vosbench.core.safepath import os_error_text
from vosbench.core.version import __version__
from vosbench.core.workers import HostPool, usable_cpus
from vosbench.evaluate.base import JSON, Evaluation, MetricValue, ProgressHook, object_evaluation, sequence_scorer
from vosbench.scoring.jf import ObjectScore, summarize

RULES = "DAVIS 2017 semi-supervised: first and last frame excluded, objects 1..max id of frame 0"


@dataclass
class EvaluationResult:
    """Scores of a folder evaluation.

    Attributes:
        scores: One entry per (sequence, object), sequences in name order.
        binary: Sequence -> whether its GT was read as DAVIS-2016 binary masks.
        frames: Sequence -> number of GT frames.
        seconds: Wall time of the scoring.
    """

    scores: list[ObjectScore]
    binary: dict[str, bool]
    frames: dict[str, int]
    seconds: float


def _pred_ids(arr: np.ndarray, mode: str, binary: bool) -> np.ndarray:
    if binary and mode != "P" and arr.size and arr.max() > 1:
        return to_binary(arr)
    return arr


def _pngs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(".png"))


def list_sequences(gt_root: Path, pred_root: Path, sequences: list[str] | None = None) -> dict[str, list[str]]:
    """Check both folders and return sequence -> GT frame file names (sorted).

    Raises:
        DatasetLayoutError: a folder is missing or empty, a requested sequence is unknown, or a
            folder cannot be listed (e.g. a symbolic-link loop inside it): one line naming the path.
        InputFileError: a prediction folder or a prediction frame is missing.
    """
    try:
        return _list_sequences(gt_root, pred_root, sequences)
    except OSError as e:
        raise DatasetLayoutError(
            f"{os_error_text(e)}; cannot list the GT/prediction folders ({gt_root}, {pred_root}). "
            "Fix or remove that entry (a symbolic link that points to itself, a folder without permission)"
        ) from None


def _list_sequences(gt_root: Path, pred_root: Path, sequences: list[str] | None = None) -> dict[str, list[str]]:
    gt_root, pred_root = Path(gt_root), Path(pred_root)
    if not gt_root.is_dir():
        raise DatasetLayoutError(f"{gt_root}: GT annotation folder not found")
    if not pred_root.is_dir():
        raise DatasetLayoutError(f"{pred_root}: prediction folder not found")
    available = sorted(e.name for e in os.scandir(gt_root) if e.is_dir() and _pngs(Path(e.path)))
    if not available:
        hint = ""
        for sub in ("Annotations/480p", "Annotations", "valid/Annotations"):
            if (gt_root / sub).is_dir():
                hint = f" Did you mean --gt {gt_root / sub}?"
                break
        raise DatasetLayoutError(
            f"{gt_root}: no sequence folders with PNG annotations; expected GT_DIR/<sequence>/<frame>.png "
            f"(e.g. DAVIS/Annotations/480p).{hint}"
        )
    if sequences:
        unknown = [s for s in sequences if s not in available]
        if unknown:
            close = difflib.get_close_matches(unknown[0], available, n=3)
            raise DatasetLayoutError(
                f"{gt_root}: no GT sequence {unknown[0]!r}"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
                + f"; available: {', '.join(available)}"
            )
        chosen = list(dict.fromkeys(sequences))
    else:
        chosen = available
    if not any(e.is_dir() for e in os.scandir(pred_root)):
        raise DatasetLayoutError(
            f"{pred_root}: prediction folder holds no sequence folders; expected PRED_DIR/<sequence>/<frame>.png"
        )
    out: dict[str, list[str]] = {}
    for seq in chosen:
        frames = _pngs(gt_root / seq)
        pdir = pred_root / seq
        if not pdir.is_dir():
            raise InputFileError(
                f"{pdir}: no predictions for sequence {seq!r}; predict every GT sequence or choose some "
                "with --sequences"
            )
        have = set(os.listdir(pdir))
        missing = [f for f in frames[1:-1] if f not in have]
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise InputFileError(
                f"{pdir}: {len(missing)} prediction frame(s) missing ({shown}); expected one PNG per scored GT "
                "frame, named like the GT file"
            )
        out[seq] = frames
    return out


def evaluate_sequence(
    gt_root: Path, pred_root: Path, sequence: str, frames: list[str] | None = None, binary: bool | None = None
) -> tuple[list[ObjectScore], bool]:
    """Score one sequence folder; returns (per-object scores, whether the GT was read as binary)."""
    gdir, pdir = Path(gt_root) / sequence, Path(pred_root) / sequence
    if frames is None:
        frames = _pngs(gdir)
    scorer = sequence_scorer(sequence, frames, {})
    is_bin = looks_binary = False
    last = len(frames) - 1
    for t, name in enumerate(frames):
        gpath = gdir / name
        gt, mode = decode_label_png(gpath)
        if t == 0:
            looks_binary = is_binary_mask(gt, mode)
            is_bin = looks_binary if binary is None else binary
        if is_bin:
            gt = to_binary(gt)
        pred = None
        ppath = pdir / name
        if 0 < t < last:  # first and last frames are never scored: their predictions are not read
            p_arr, p_mode = decode_label_png(ppath)
            pred = _pred_ids(p_arr, p_mode, is_bin)
        try:
            scorer.add(gt, pred, Path(name).stem)
        except InputFileError as e:
            hint = " The GT looks like DAVIS-2016 0/255 masks: drop --no-binary." if looks_binary and not is_bin else ""
            raise InputFileError(f"{e} [prediction {ppath}; GT {gpath}]{hint}") from None
    return scorer.result(), is_bin


def _job(args: tuple[Path, Path, str, list[str], bool | None]) -> tuple[str, list[ObjectScore], bool]:
    gt_root, pred_root, seq, frames, binary = args
    scores, is_bin = evaluate_sequence(gt_root, pred_root, seq, frames, binary)
    return seq, scores, is_bin


def evaluate_folders(
    gt_root: str | os.PathLike[str],
    pred_root: str | os.PathLike[str],
    sequences: list[str] | None = None,
    workers: int | None = None,
    binary: bool | None = None,
    progress: ProgressHook | None = None,
) -> EvaluationResult:
    """Score every sequence of ``pred_root`` against ``gt_root``, in parallel over sequences.

    Args:
        gt_root: ``GT_DIR/<sequence>/<frame>.png``.
        pred_root: ``PRED_DIR/<sequence>/<frame>.png``.
        sequences: Subset to score (default: every GT sequence).
        workers: Processes (default: CPU count; 1 = in this process).
        binary: Force (True) or forbid (False) reading the GT as DAVIS-2016 binary masks; None detects
            it per sequence.
        progress: Called with (sequences done, sequences in all) as they finish (e.g. a progress bar).

    Raises:
        DatasetLayoutError, InputFileError: bad folders or files (see :func:`list_sequences`).
    """
    start = time.perf_counter()
    gt_root, pred_root = Path(gt_root), Path(pred_root)
    table = list_sequences(gt_root, pred_root, sequences)
    n_workers = max(1, min(workers or usable_cpus(), len(table)))
    # longest sequences first, so no worker is left with a long one at the end
    order = sorted(table, key=lambda s: -len(table[s]))
    jobs = [(gt_root, pred_root, s, table[s], binary) for s in order]
    done: dict[str, tuple[list[ObjectScore], bool]] = {}
    if progress:
        progress(0, len(jobs))
    if n_workers == 1:
        for job in jobs:
            seq, scores, is_bin = _job(job)
            done[seq] = (scores, is_bin)
            if progress:
                progress(len(done), len(jobs))
    else:
        with HostPool(n_workers) as pool:
            pending = {pool.submit(_job, job) for job in jobs}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    error = fut.exception()
                    if error is not None:
                        for p in pending:
                            p.cancel()
                        raise error
                    (seq, scores, is_bin), _ = fut.result()
                    done[seq] = (scores, is_bin)
                    if progress:
                        progress(len(done), len(jobs))
    scores = [s for seq in table for s in done[seq][0]]
    return EvaluationResult(
        scores=scores,
        binary={seq: done[seq][1] for seq in table},
        frames={seq: len(table[seq]) for seq in table},
        seconds=time.perf_counter() - start,
    )


def evaluate(
    gt: str | os.PathLike[str],
    pred: str | os.PathLike[str],
    *,
    sequences: list[str] | None = None,
    workers: int | None = None,
    binary: bool | None = None,
    progress: ProgressHook | None = None,
) -> Evaluation[EvaluationResult]:
    """DAVIS J&F of ``pred`` against ``gt`` (see :func:`evaluate_folders`) as an :class:`Evaluation`."""
    gt, pred = Path(gt), Path(pred)
    result = evaluate_folders(gt, pred, sequences, workers, binary, progress)
    summary = summarize(result.scores)
    metrics: dict[str, MetricValue] = dict(summary)
    empty = None
    if math.isnan(summary["JF_mean"]):
        empty = (
            f"{gt}: nothing to score: no sequence has an object in its first GT frame and a frame between "
            "its first and last frames"
        )
    facts: dict[str, JSON] = {
        "objects": len(result.scores),
        "sequences": len(result.frames),
        "frames_per_sequence": result.frames,
        "binary_gt": result.binary,
        "gt": str(gt.resolve()),
        "pred": str(pred.resolve()),
        "rules": RULES,
        "vosbench_version": __version__,
        "seconds": round(result.seconds, 3),
    }
    return object_evaluation(
        "davis", pred, result.scores, metrics, facts, result.frames, result.seconds, result, empty
    )
