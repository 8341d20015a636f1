"""``plan.json`` and ``sequences/<seq>/result.json``: their text and their checked reading.

The plan is written once when a run starts and read by every later process of the run (shards,
``--resume``, ``vosbench merge``); a committed sequence's ``result.json`` holds its scores. Both
can be edited by anyone, so reading checks what the record is made from: sequence names single
safe path components listed once, a result that belongs to the sequence it claims and lies
inside the run folder, scores that are fractions in their range (NaN where nothing was scored)
and PCK counts that are whole, non-negative and no larger than the pairs scored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from vosbench.core.errors import InputFileError
from vosbench.core.safepath import inside
from vosbench.records.checks import Unique, check_sequence, check_value, json_number
from vosbench.records.schema import PLAN
from vosbench.records.tables import OBJECT_STATS
from vosbench.scoring.tapvid import METRIC_KEYS as TAPVID_METRICS
from vosbench.records.types import Plan, SequenceResult

#: version of the ``plan.json`` layout
PLAN_VERSION = 1
#: folder of the committed sequences, and the file that commits one
COMMITTED = "sequences"
RESULT = "result.json"


def plan_text(plan: Plan) -> str:
    """The text of ``plan.json``."""
    return json.dumps(plan, indent=2) + "\n"


def result_text(result: SequenceResult) -> str:
    """The text of ``result.json`` (floats as ``repr``, so they read back exactly; NaN as ``NaN``)."""
    return json.dumps(result) + "\n"


def _json_object(path: Path, what: str) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read {what} ({e})") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: expected {what} (a JSON object)")
    return data


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_plan(run_dir: str | Path) -> Plan:
    """The plan of ``run_dir``, checked: its version, the record head, and each sequence once
    with a safe name and a frame count.

    Raises:
        InputFileError: the plan is missing, unreadable or breaks a rule above (naming the file).
    """
    path = Path(run_dir) / PLAN
    if not path.is_file():
        raise InputFileError(
            f"{path} not found: {run_dir} is not a run folder written by this vosbench (runs made before "
            "resumable runs cannot be resumed or merged; start a new run)"
        )
    data = _json_object(path, "the run plan")
    if data.get("plan_version") != PLAN_VERSION:
        raise InputFileError(f"{path}: plan_version {data.get('plan_version')!r}, this vosbench reads {PLAN_VERSION}")
    if not isinstance(data.get("record"), dict) or not isinstance(data.get("config"), dict):
        raise InputFileError(f"{path}: expected the objects 'record' and 'config'")
    seen = Unique(path, "sequence")
    for where, entry in _entries(path, data.get("sequences"), "sequences", "frames"):
        name = check_sequence(path, where, entry.get("name"))
        seen.add(where, name, repr(name))
    prefix = data.get("submission_prefix")
    if prefix is not None and not isinstance(prefix, str):
        raise InputFileError(f"{path}: submission_prefix {prefix!r} is not a string")
    return cast(Plan, data)


def read_result(run_dir: str | Path, name: str) -> SequenceResult:
    """The committed result of sequence ``name`` (``sequences/<name>/result.json``), checked: it
    lies inside the run folder, names ``name`` as its sequence, and its scores are valid.

    Raises:
        InputFileError: naming the file and what was expected.
    """
    folder = Path(run_dir) / COMMITTED
    path = folder / check_sequence(folder, "", name) / RESULT
    if not inside(run_dir, path):
        raise InputFileError(f"{path}: resolves outside the run folder {run_dir}; expected a file of the run")
    data = _json_object(path, "a committed sequence")
    if data.get("sequence") != name:
        raise InputFileError(f"{path}: 'sequence' is {data.get('sequence')!r}; expected {name!r}, its folder's name")
    if not _count(data.get("frames")) or not isinstance(data.get("timings"), dict):
        raise InputFileError(f"{path}: expected a frame count 'frames' and an object 'timings'")
    if "objects" in data:
        _check_objects(path, data["objects"])
    if "hits" in data or "counts" in data:
        _check_counts(path, data.get("hits"), data.get("counts"))
    if "confusion" in data:
        _check_confusion(path, data["confusion"])
    if "tapvid" in data:
        _check_tapvid(path, data["tapvid"])
    return cast(SequenceResult, data)


def _entries(path: Path, items: object, what: str, count: str) -> Iterator[tuple[str, dict[str, object]]]:
    """The JSON objects of the list ``items`` (key ``what``) with where each is, each holding a
    whole number ``count``."""
    if not isinstance(items, list):
        raise InputFileError(f"{path}: {what!r} is not a list")
    for i, entry in enumerate(items):
        where = f"{what}[{i}]: "
        if not isinstance(entry, dict) or not _count(entry.get(count)):
            raise InputFileError(f"{path}: {where}expected an object with a non-negative whole number {count!r}")
        yield where, entry


def _check_objects(path: Path, objects: object) -> None:
    seen = Unique(path, "object")
    for where, row in _entries(path, objects, "objects", "object"):
        seen.add(where, row["object"], str(row["object"]))
        for key in OBJECT_STATS:
            check_value(path, where, key, _float(path, where, key, row.get(key)))
        frames, js, fs = row.get("frames"), row.get("J_frames"), row.get("F_frames")
        if not (isinstance(frames, list) and isinstance(js, list) and isinstance(fs, list)) or not (
            len(frames) == len(js) == len(fs)
        ):
            raise InputFileError(f"{path}: {where}expected the lists 'frames', 'J_frames', 'F_frames' of one length")
        for measure, values in (("J", js), ("F", fs)):
            for v in values:
                check_value(path, where, measure, _float(path, where, measure, v))


def _float(path: Path, where: str, key: str, value: object) -> float:
    number = json_number(value)
    if number is None:
        raise InputFileError(f"{path}: {where}{key} is {value!r}; expected a number (NaN: not scored)")
    return number


def _check_counts(path: Path, hits: object, counts: object) -> None:
    """PCK ``hits`` (thresholds x joints) and ``counts`` (joints): whole, non-negative, hits <= counts."""
    if not isinstance(counts, list) or not all(_count(c) for c in counts):
        raise InputFileError(f"{path}: 'counts' is not a list of non-negative whole numbers")
    totals = cast(list[int], counts)
    if not isinstance(hits, list) or not all(
        isinstance(row, list) and len(row) == len(totals) and all(_count(h) and cast(int, h) <= c for h, c in zip(row, totals))
        for row in hits
    ):
        raise InputFileError(
            f"{path}: 'hits' is not a list of rows of {len(counts)} whole numbers, each at most its joint's count"
        )


def _check_confusion(path: Path, confusion: object) -> None:
    """A parsing run's ``confusion``: a square list of lists of whole, non-negative pixel counts."""
    rows = confusion if isinstance(confusion, list) else None
    if not rows or not all(isinstance(r, list) and len(r) == len(rows) and all(_count(v) for v in r) for r in rows):
        raise InputFileError(f"{path}: 'confusion' is not a square matrix of non-negative whole numbers")


def _check_tapvid(path: Path, metrics: object) -> None:
    """A point-tracking result's ``tapvid`` metrics: every key of tapnet's, a fraction or NaN."""
    if not isinstance(metrics, dict) or set(metrics) != set(TAPVID_METRICS):
        raise InputFileError(f"{path}: 'tapvid' must be an object with exactly {', '.join(TAPVID_METRICS)}")
    for key in TAPVID_METRICS:
        check_value(path, "tapvid: ", key, _float(path, "tapvid: ", key, metrics[key]))
