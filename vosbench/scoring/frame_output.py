"""One predicted frame's host-side work in a run: write its PNG, read its GT, measure J and F.

:func:`write_and_measure` is what a run hands to its host workers
(:class:`vosbench.core.workers.HostPool`) per frame and grid point; it imports numpy and Pillow
only, so worker processes start quickly.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import numpy as np

from vosbench.core.labels import VOID, read_label_png, write_label_png
from vosbench.scoring.jf import FrameCheck, measure_frame


class FrameMeasure(NamedTuple):
    """J and F of a frame's objects (None: not scored) and the seconds measuring took."""

    j: np.ndarray | None
    f: np.ndarray | None
    seconds: float


def write_and_measure(
    ids: np.ndarray,
    png: str | os.PathLike[str] | None,
    palette: bytes,
    check: FrameCheck | None,
    gt: np.ndarray | str | os.PathLike[str] | None,
    binary: bool = False,
    void_as_background: bool = False,
) -> FrameMeasure | None:
    """Write ``ids`` to ``png`` (when given) and, with a ``check``, measure it against ``gt``
    (an id map, or the path of a label PNG read with the DAVIS-2016 rule when ``binary``).

    ``void_as_background``: predicted void (255) pixels are scored as background (they are
    written as 255). Returns the measures (:func:`~vosbench.scoring.jf.measure_frame`), or None
    when there is nothing to measure.
    """
    if png is not None:
        write_label_png(png, ids, palette)
    if check is None or gt is None:
        return None
    t0 = time.perf_counter()
    gt_map = gt if isinstance(gt, np.ndarray) else read_label_png(gt, binary=binary)
    if void_as_background:
        ids = np.where(ids == VOID, 0, ids).astype(ids.dtype)
    j, f = measure_frame(check, gt_map, ids)
    return FrameMeasure(j, f, time.perf_counter() - t0)
