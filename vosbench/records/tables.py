"""The tables of a run folder: ``per_object.csv``, ``per_frame.csv`` (segmentation),
``per_video_pck.csv``, ``per_joint_pck.csv`` and ``keypoints/<video>.csv`` (keypoints).

Every value is checked as it is read (:mod:`vosbench.records.checks`): scores are fractions in
[0, 1] (decays in [-1, 1]) or empty/``nan`` where nothing was scored, a sequence (video) or
row appears once, and sequence names are single safe path components. A file that breaks a
rule is refused with one line naming it, the line and what was expected.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Literal, get_args

from vosbench.core.errors import InputFileError
from vosbench.records.checks import Unique, check_sequence, check_value
from vosbench.records.types import ObjectStats

#: the per-object statistics, in the column order of ``per_object.csv``
StatKey = Literal["J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"]
OBJECT_STATS: tuple[StatKey, ...] = get_args(StatKey)
PER_OBJECT_COLUMNS = ("sequence", "object", *OBJECT_STATS)
#: texts read as "not scored" (NaN)
MISSING = ("", "nan", "NaN", "-")


class ObjectRow(ObjectStats):
    """One row of ``per_object.csv``: the sequence, the object id and its statistics."""

    sequence: str
    object: str


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[str, dict[str, str]]]:
    """The rows of the CSV file ``path`` with the place each starts at (``line N: ``)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise InputFileError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(required)}"
                )
            return [(f"line {reader.line_num}: ", row) for row in reader]
    except FileNotFoundError:
        raise InputFileError(f"{path}: not found (was the run written by an older vosbench?)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(f"{path}: cannot read CSV ({e})") from None


def number(path: Path, row: dict[str, str], key: str, where: str = "") -> float:
    """Column ``key`` of ``row`` as a float (NaN for an empty or ``nan`` cell)."""
    text = (row.get(key) or "").strip()
    if text in MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputFileError(f"{path}: {where}{key}={text!r} is not a number (row {row})") from None


def score(path: Path, row: dict[str, str], key: str, where: str = "") -> float:
    """Column ``key`` of ``row`` as a score: a fraction in its range, or NaN (not scored)."""
    return check_value(path, where, key, number(path, row, key, where))


def read_per_object(run_dir: str | Path) -> list[ObjectRow]:
    """Rows of ``per_object.csv``: sequence, object, then the six statistics as floats."""
    path = Path(run_dir) / "per_object.csv"
    seen = Unique(path, "object")
    out: list[ObjectRow] = []
    for where, row in _rows(path, PER_OBJECT_COLUMNS):
        seq = check_sequence(path, where, row["sequence"])
        seen.add(where, (seq, row["object"]), f"{seq}/{row['object']}")
        item: ObjectRow = {
            "sequence": seq, "object": row["object"], "J_mean": math.nan, "J_recall": math.nan,
            "J_decay": math.nan, "F_mean": math.nan, "F_recall": math.nan, "F_decay": math.nan,
        }
        for key in OBJECT_STATS:
            item[key] = score(path, row, key, where)
        out.append(item)
    return out


def per_sequence_jf(run_dir: str | Path) -> dict[str, float]:
    """Sequence -> J&F: the mean over the sequence's objects of (J-Mean + F-Mean) / 2.

    The mean of these values over *all objects* (not over sequences) is the run's J&F-Mean.
    """
    sums: dict[str, list[float]] = {}
    for row in read_per_object(run_dir):
        jf = (row["J_mean"] + row["F_mean"]) / 2
        if not math.isnan(jf):
            sums.setdefault(row["sequence"], []).append(jf)
    return {seq: sum(v) / len(v) for seq, v in sums.items()}


def read_videos(path: Path, metrics: tuple[str, ...], *, counts: bool) -> dict[str, tuple[float, dict[str, float]]]:
    """``per_video_pck.csv`` as video -> (``n``, {metric: PCK}); ``n`` (the number of scored
    pairs, a whole number) is read only with ``counts``, else it is NaN."""
    seen = Unique(path, "video")
    out: dict[str, tuple[float, dict[str, float]]] = {}
    for where, row in _rows(path, ("video", *(("n",) if counts else ()), *metrics)):
        video = check_sequence(path, where, row["video"], "video")
        seen.add(where, video, repr(video))
        n = number(path, row, "n", where) if counts else math.nan
        if counts and not (math.isfinite(n) and n >= 0 and n.is_integer()):
            raise InputFileError(f"{path}: {where}n={row.get('n')!r} is not a count of scored pairs (video {video})")
        out[video] = (n, {m: score(path, row, m, where) for m in metrics})
    return out


def per_video_pck(run_dir: str | Path, metric: str = "PCK@0.1") -> dict[str, float]:
    """Video -> PCK (fraction) from a keypoint run's ``per_video_pck.csv`` (columns video, ..., metric)."""
    videos = read_videos(Path(run_dir) / "per_video_pck.csv", (metric,), counts=False)
    return {video: values[metric] for video, (_, values) in videos.items()}


def read_per_frame(run_dir: str | Path) -> dict[str, dict[str, list[tuple[str, float, float]]]]:
    """``per_frame.csv`` as sequence -> object -> [(frame, J, F), ...] in file order."""
    path = Path(run_dir) / "per_frame.csv"
    seen = Unique(path, "frame")
    out: dict[str, dict[str, list[tuple[str, float, float]]]] = {}
    for where, row in _rows(path, ("sequence", "object", "frame", "J", "F")):
        seq = check_sequence(path, where, row["sequence"])
        obj, frame = row["object"], row["frame"]
        seen.add(where, (seq, obj, frame), f"{seq}/{obj}/{frame}")
        out.setdefault(seq, {}).setdefault(obj, []).append(
            (frame, score(path, row, "J", where), score(path, row, "F", where))
        )
    return out


def read_keypoints(path: str | Path) -> dict[str, dict[int, tuple[float, float]]]:
    """``keypoints/<video>.csv`` as frame -> joint index -> (x, y) in pixels of the original frame
    (NaN: no prediction); a (frame, joint) pair appears once."""
    p = Path(path)
    seen = Unique(p, "row for")
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for where, row in _rows(p, ("frame", "joint", "x", "y")):
        try:
            joint = int(row["joint"])
        except ValueError:
            raise InputFileError(f"{p}: {where}joint {row['joint']!r} is not an integer index") from None
        frame = row["frame"].strip()
        seen.add(where, (frame, joint), f"frame {frame!r}, joint {joint}")
        xy = (number(p, row, "x", where), number(p, row, "y", where))
        if any(math.isinf(v) for v in xy):
            raise InputFileError(f"{p}: {where}x, y = {xy} for joint {joint}; expected finite pixels or nan")
        out.setdefault(frame, {})[joint] = xy
    return out


def read_per_joint_pck(run_dir: str | Path) -> tuple[list[str], dict[str, list[float]]]:
    """``per_joint_pck.csv``: joint names (first column) and each PCK column's values (NaN for an
    empty cell: no pair of that joint scored)."""
    path = Path(run_dir) / "per_joint_pck.csv"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [r for r in reader if r]
    except FileNotFoundError:
        raise InputFileError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(f"{path}: cannot read CSV ({e})") from None
    if not header or len(header) < 2:
        raise InputFileError(f"{path}: expected a header 'joint,PCK@0.1,...'")
    seen = Unique(path, "joint")
    for i, r in enumerate(rows, start=2):
        seen.add(f"row {i}: ", r[0], repr(r[0]))
    cols: dict[str, list[float]] = {}
    for j, name in enumerate(header[1:], start=1):
        if name.upper().startswith("PCK"):
            cols[name] = [
                score(path, {name: r[j] if j < len(r) else ""}, name, f"row {i}: ") for i, r in enumerate(rows, start=2)
            ]
    return [r[0] for r in rows], cols
