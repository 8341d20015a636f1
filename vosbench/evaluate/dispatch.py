"""One entry point for every benchmark's folder evaluator (``vosbench eval`` and ``vosbench.evaluate``)."""

from __future__ import annotations

import os
from collections.abc import Callable

from vosbench.core.errors import ConfigError
from vosbench.evaluate import badja, davis, jhmdb, ytvos
from vosbench.evaluate.base import Evaluation, ProgressHook

PathLike = str | os.PathLike[str]


def evaluate_benchmark(
    benchmark: str,
    gt: PathLike,
    pred: PathLike,
    *,
    sequences: list[str] | None = None,
    workers: int | None = None,
    binary: bool | None = None,
    meta: PathLike | None = None,
    unseen: PathLike | None = None,
    split: int | None = None,
    subset: str | None = None,
    progress: ProgressHook | None = None,
    label: Callable[[str], str] = str,
) -> Evaluation[object]:
    """Score ``pred`` against ``gt`` with the evaluator of ``benchmark``.

    The caller checks first, with :func:`~vosbench.evaluate.base.check_options`, that every option
    given applies to ``benchmark``; ``label`` names options in messages as the caller's users spell
    them (``--meta`` on the command line).

    Args:
        benchmark: ``davis`` (``gt``: ``GT_DIR/<sequence>/<frame>.png``), ``ytvos`` (the same, with
            ``meta``: the split's ``meta.json``), ``jhmdb`` (``gt``: the JHMDB root) or ``badja``
            (``gt``: the BADJA folder).
        pred: The prediction folder, a YouTube-VOS ``submission.zip``, or a JHMDB keypoint folder
            (or a run folder holding ``keypoints/``).
        sequences: Subset of sequences (videos) to score; default all.
        workers: Processes (davis, ytvos; default: the CPUs).
        binary: davis: read the GT as DAVIS-2016 binary masks (None: detect per sequence).
        meta, unseen: ytvos: ``meta.json`` (required) and the unseen-category list file.
        split, subset: jhmdb: split 1-3 (default 1), ``test`` (default) or ``train``.
        progress: Called with (sequences done, sequences in all).

    Raises:
        ConfigError: ``ytvos`` without ``meta``.
        DatasetLayoutError, InputFileError: a missing or malformed input, naming it.
    """
    if benchmark == "davis":
        return davis.evaluate(gt, pred, sequences=sequences, workers=workers, binary=binary, progress=progress)
    if benchmark == "ytvos":
        if meta is None:
            raise ConfigError(
                f"{label('benchmark')} ytvos needs {label('meta')} <split>/meta.json (the frames and first appearances)"
            )
        return ytvos.evaluate(
            gt, pred, meta=meta, unseen=unseen, sequences=sequences, workers=workers, progress=progress
        )
    if benchmark == "badja":
        return badja.evaluate(gt, pred, sequences=sequences, progress=progress)
    return jhmdb.evaluate(gt, pred, split=split or 1, subset=subset or "test", sequences=sequences, progress=progress)
