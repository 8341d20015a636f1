"""Reading the run records that ``vosbench run`` writes.

A run folder ``<runs>/<dataset>/<model>/<run-id>/`` holds ``summary.json`` (metrics as fractions,
the resolved protocol, model, checkpoint, environment, timings) and, depending on the task,
``per_object.csv``, ``per_frame.csv``, ``predictions/``, ``keypoints/`` and ``per_joint_pck.csv``.
This module turns those files into :class:`RunRecord` objects and groups records into the
identities the leaderboard compares: (model, checkpoint, protocol, dataset).

Everything here is read-only and light (json and csv only), so leaderboards and checks work on
machines without torch-heavy imports.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

from vosbench.core.errors import InputFileError
from vosbench.records.checks import Unique, check_interval, check_sequence, finite_number, range_problem
from vosbench.records.schema import PLAN, SCHEMA_VERSION, STATUSES, SUMMARY
from vosbench.records.tables import PER_OBJECT_COLUMNS as PER_OBJECT_COLUMNS
from vosbench.records.tables import per_sequence_jf as per_sequence_jf
from vosbench.records.tables import per_video_pck as per_video_pck
from vosbench.records.tables import read_keypoints as read_keypoints
from vosbench.records.tables import read_per_frame as read_per_frame
from vosbench.records.tables import read_per_joint_pck as read_per_joint_pck
from vosbench.records.tables import read_per_object as read_per_object
from vosbench.records.tuning import check_tuning
from vosbench.records.types import RunSummary, Settings, Tuning


#: Protocol settings added after records were first written, each with the value that reproduces
#: the computation of records that lack it (``first_in_window``: frame 0 counted among the previous
#: frames, as VFS does; ``mixing``: UVC's per-frame softmax average; ``gt_size``/``gt_resize``: scoring
#: against resized ground truth; ``references``: MAST's reference frames; ``border``: MAST's zero-padded
#: window; ``align_corners``: DUL's resizes). A run at these values is the same protocol as a record
#: without the keys. ``tracker`` and ``occlusion_threshold`` concern point tracking only.
LATER_SETTINGS: dict[str, object] = {
    "first_in_window": False,
    "mixing": "joint",
    "gt_size": "native",
    "gt_resize": "pil-nearest",
    "tracker": "propagate",
    "occlusion_threshold": None,
    "references": "recent",
    "border": "drop",
    "align_corners": False,
    "minmax_feedback": False,
    "predict_first": False,
    "min_label_pixels": 0,
    "keypoint_readout_topk": 3,
}


@dataclass(frozen=True)
class RunRecord:
    """One run, as recorded in its ``summary.json``.

    Attributes:
        run_dir: The run folder.
        run_id: Run identifier (time-prefixed, so it sorts by start time).
        created: ISO-8601 timestamp of the run.
        task: ``"vos"`` or ``"pose"``.
        model: Model name.
        model_options: Model options given on the command line.
        checkpoint: Checkpoint path as recorded, or ``None``.
        checkpoint_sha256: SHA-256 of the checkpoint file, or ``None``.
        dataset: Dataset name.
        dataset_root: Dataset root folder as recorded.
        sequences: Sequences the run covered.
        protocol: The resolved protocol (name, version and every setting).
        metrics: Scalar metrics as fractions in [0, 1]; absent metrics are not keys.
        pck_curve: Threshold -> PCK (fractions) for pose runs, else empty.
        status: ``complete``, or ``running``/``failed``/``interrupted`` for runs that did not finish.
        random_init: The model ran without a checkpoint on randomly initialised weights.
        summary: The whole ``summary.json``, as checked by :func:`read_summary`.
    """

    run_dir: Path
    run_id: str
    created: str
    task: str
    model: str
    model_options: Settings
    checkpoint: str | None
    checkpoint_sha256: str | None
    dataset: str
    dataset_root: str | None
    sequences: list[str]
    protocol: Settings
    metrics: dict[str, float]
    pck_curve: dict[float, float] = field(default_factory=dict)
    status: str = "complete"
    random_init: bool = False
    summary: RunSummary = field(default_factory=lambda: cast(RunSummary, {}))

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def benchmark(self) -> str:
        """What the scores are against: the dataset name, or ``<dataset>@<H>x<W>`` for a run
        scored against ground truth resized to H x W (protocol setting ``gt_size``), which the
        leaderboard, ``check`` and ``compare`` never put beside native-size runs."""
        size = self.protocol.get("gt_size", "native")
        return self.dataset if size in ("native", None) else f"{self.dataset}@{size}"

    @property
    def protocol_name(self) -> str:
        return str(self.protocol.get("name", "?"))

    @property
    def protocol_version(self) -> int:
        version = self.protocol.get("version", 0)
        return version if isinstance(version, int) else 0

    def protocol_settings(self) -> Settings:
        """Protocol settings without name and version, in recorded order; a setting added after
        records existed is left out while it holds the value that computes what records without it
        computed (:data:`LATER_SETTINGS`), so old records, baselines and new runs stay comparable."""
        return {
            k: v
            for k, v in self.protocol.items()
            if k not in ("name", "version") and not (k in LATER_SETTINGS and v == LATER_SETTINGS[k])
        }

    @property
    def tuning(self) -> Tuning | None:
        """How ``vosbench tune`` chose this run's settings (checked when read), else ``None``."""
        return self.summary.get("tuning")

    def sort_time(self) -> tuple[str, str]:
        """Key ordering runs by start time (normalised to UTC where parseable), then run id."""
        try:
            t = datetime.fromisoformat(self.created)
            if t.tzinfo is not None:
                t = t.astimezone(timezone.utc)
            stamp = t.strftime("%Y-%m-%dT%H:%M:%S.%f")
        except (TypeError, ValueError):
            stamp = self.created or ""
        return (stamp, self.run_id)


def _fail(path: Path, what: str) -> InputFileError:
    return InputFileError(
        f"{path}: {what}. Expected a run record written by `vosbench run` "
        f"(summary.json, schema_version {SCHEMA_VERSION}); re-run or delete this run folder."
    )


#: what a record without ``environment.tf32`` (written before --precision fp32 meant true fp32 on
#: GPUs and half-precision features were matched in fp32) actually computed
LEGACY_GPU_FP32 = "fp32-cudnn-tf32"  # cuDNN convolutions in TF32, torch's default then
LEGACY_HALF = "{}-half-products"  # similarities, top-k and softmax in bf16/fp16


def arithmetic(data: Mapping[str, object]) -> str:
    """The arithmetic a record's numbers come from: its ``precision`` (fp32, tf32, bf16, fp16),
    or for records written before vosbench switched TF32 off and matched half-precision features
    in fp32 (no ``environment.tf32``): ``fp32-cudnn-tf32`` for fp32 runs on a GPU and
    ``bf16-half-products`` / ``fp16-half-products`` for half-precision runs; a leaderboard keeps
    each apart from today's runs."""
    precision = data.get("precision") or "fp32"
    env = data.get("environment")
    if not isinstance(env, dict) or "tf32" in env:
        return str(precision)
    if precision == "fp32" and str(env.get("device", "")).startswith("cuda"):
        return LEGACY_GPU_FP32
    if precision in ("bf16", "fp16"):
        return LEGACY_HALF.format(precision)
    return str(precision)


def _summary_path(run_dir: str | Path) -> Path:
    """``RUN_DIR/summary.json`` (``run_dir`` may also be the file itself)."""
    p = Path(run_dir)
    return p if p.name == SUMMARY and p.is_file() else p / SUMMARY


def _json_object(path: Path) -> dict[str, object]:
    if not path.is_file():
        raise InputFileError(f"{path}: not found; {path.parent} is not a run folder written by `vosbench run`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # ValueError: not JSON, not UTF-8, or an integer of over 4300 digits
        raise _fail(path, f"cannot parse JSON ({e})") from None
    if not isinstance(data, dict):
        raise _fail(path, "top level is not a JSON object")
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise _fail(path, "missing integer 'schema_version'")
    if version > SCHEMA_VERSION:
        raise InputFileError(
            f"{path}: schema_version {version} is newer than this vosbench understands "
            f"({SCHEMA_VERSION}); upgrade vosbench to read it"
        )
    return data


def _section(path: Path, data: Mapping[str, object], key: str) -> dict[str, object]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _fail(path, f"missing object {key!r}")
    return value


def _check_head(path: Path, data: Mapping[str, object]) -> None:
    """Who and what: the keys every reader relies on, and the sequences' names."""
    model, dataset, protocol = (_section(path, data, k) for k in ("model", "dataset", "protocol"))
    run_id = data.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise _fail(path, "missing 'run_id'")
    if not isinstance(model.get("name"), str):
        raise _fail(path, "missing 'model.name'")
    if not isinstance(dataset.get("name"), str):
        raise _fail(path, "missing 'dataset.name'")
    if not isinstance(protocol.get("name"), str) or not isinstance(protocol.get("version"), int):
        raise _fail(path, "missing 'protocol.name' or integer 'protocol.version'")
    status = data.get("status")
    if status is not None and status not in STATUSES:
        raise _fail(path, f"status {status!r} is none of {', '.join(STATUSES)}")
    names = dataset.get("sequences")
    if names is not None:
        if not isinstance(names, list):
            raise _fail(path, "'dataset.sequences' is not a list of names")
        seen = Unique(path, "sequence")
        for name in names:
            seen.add("dataset.sequences: ", check_sequence(path, "dataset.sequences: ", name), repr(name))


def _metric_value(path: Path, key: str, value: object) -> float | None:
    """A metric as a float (``None`` for null or NaN: not computed); refused when not a number
    or outside its range."""
    fv = finite_number(value)
    if fv is None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
            raise _fail(path, f"metric {key!r} is {shown}, expected a number or null")
        return None
    problem = range_problem(key, fv)
    if problem is not None:
        raise _fail(path, f"metric {problem}")
    return fv


def _metric_values(path: Path, metrics: Mapping[str, object]) -> tuple[dict[str, float], dict[float, float]]:
    """The scalar metrics of a record's ``metrics`` (those computed) and its PCK curve
    (threshold -> PCK, sorted), each checked to be a fraction in its range."""
    scalars: dict[str, float] = {}
    curve: dict[float, float] = {}
    for key, value in metrics.items():
        if key == "pck_curve" and isinstance(value, dict):
            for thr, v in value.items():
                try:
                    t = float(thr)
                except ValueError:
                    raise _fail(path, f"pck_curve threshold {thr!r} is not a number") from None
                fv = _metric_value(path, f"pck_curve[{thr}]", v)
                if fv is not None:
                    curve[t] = fv
            continue
        fv = _metric_value(path, key, value)
        if fv is not None:
            scalars[key] = fv
    return scalars, dict(sorted(curve.items()))


def _check_ci(path: Path, data: Mapping[str, object], scalars: Mapping[str, float]) -> None:
    """The ``ci`` block: each interval holds two numbers in range around the record's point.
    (Keypoint runs build theirs around the per-video mean, which may differ from the PCK of the
    whole run, so there the point is not required inside.)"""
    block = data.get("ci")
    if block is None:
        return
    intervals = block.get("metrics", {}) if isinstance(block, dict) else None
    if not isinstance(intervals, dict):
        raise _fail(path, "'ci' is not an object with 'metrics'")
    dataset = data.get("dataset")
    # parsing runs: a percentile interval of a mean of class ratios need not hold the point either
    pose = (data.get("task") or (dataset.get("task") if isinstance(dataset, dict) else None)) in ("pose", "parsing")
    for key, iv in intervals.items():
        if not isinstance(iv, dict):
            raise _fail(path, f"ci.metrics.{key} is not an object with 'low' and 'high'")
        point = scalars.get(key, math.nan)
        check_interval(path, key, math.nan if pose else point, iv.get("low"), iv.get("high"))


def _validated(run_dir: str | Path) -> tuple[Path, RunSummary, dict[str, float], dict[float, float]]:
    path = _summary_path(run_dir)
    data = _json_object(path)
    _check_head(path, data)
    scalars, curve = _metric_values(path, _section(path, data, "metrics"))
    _check_ci(path, data, scalars)
    if "tuning" in data:  # records of `vosbench tune` (older records have none)
        check_tuning(data["tuning"], lambda what: _fail(path, what))
    return path, cast(RunSummary, data), scalars, curve


def read_summary(run_dir: str | Path) -> RunSummary:
    """``RUN_DIR/summary.json`` (or that file itself), checked: the schema version, the keys
    every reader relies on (run id, model, dataset and protocol names, protocol version), safe
    and unique sequence names, metrics that are fractions in their range, intervals that
    contain their points, and a ``tuning`` block (when there is one) that is consistent.

    Raises:
        InputFileError: the file is missing, not JSON, of a newer schema, or breaks a rule above.
    """
    return _validated(run_dir)[1]


def load_record(run_dir: str | Path) -> RunRecord:
    """Read ``RUN_DIR/summary.json`` (checked as :func:`read_summary` does).

    Args:
        run_dir: A run folder (or the ``summary.json`` file itself).

    Raises:
        InputFileError: the file is missing, not JSON, of a newer schema, or malformed.
    """
    path, data, scalars, curve = _validated(run_dir)
    model, dataset = data["model"], data["dataset"]
    protocol: Settings = dict(data["protocol"])
    precision = arithmetic(data)
    if precision != "fp32":
        # half-precision features (or TF32 products) may change top-k choices: such runs are never
        # merged with true-fp32 ones
        protocol["precision"] = precision
    options = model.get("options") or {}
    return RunRecord(
        run_dir=path.parent,
        run_id=data["run_id"],
        created=str(data.get("created") or ""),
        task=str(data.get("task") or dataset.get("task") or "vos"),
        model=model["name"],
        model_options=dict(options) if isinstance(options, dict) else {},
        checkpoint=model.get("checkpoint"),
        checkpoint_sha256=model.get("checkpoint_sha256"),
        dataset=dataset["name"],
        dataset_root=dataset.get("root"),
        sequences=list(dataset.get("sequences") or []),
        protocol=protocol,
        metrics=scalars,
        pck_curve=curve,
        status=str(data.get("status") or "complete"),
        random_init=bool(model.get("random_init")),
        summary=data,
    )


def find_records(runs_dir: str | Path, *, include_incomplete: bool = False) -> list[RunRecord]:
    """Every finished run record under ``runs_dir`` (any depth), sorted by dataset, model, time.

    Runs whose record says they are still running, failed or were interrupted are left out
    unless ``include_incomplete`` (see :func:`unfinished_runs`); a ``summary.json`` that cannot
    be read is an error, since silently leaving a run out of a leaderboard or regression check
    would hide it.

    Raises:
        InputFileError: ``runs_dir`` does not exist, or a record is malformed.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise InputFileError(
            f"runs folder {root} does not exist; pass --runs DIR (the --out folder of `vosbench run`, "
            f"default runs)"
        )
    records = [load_record(p.parent) for p in sorted(root.rglob(SUMMARY)) if not _hidden(p, root)]
    if not include_incomplete:
        records = [r for r in records if r.complete]
    records.sort(key=lambda r: (r.dataset, r.model, r.sort_time()))
    return records


def unfinished_runs(runs_dir: str | Path) -> list[str]:
    """One line for each run under ``runs_dir`` that did not finish: its folder (relative to
    ``runs_dir``) and why: the status its record gives (``interrupted``, ``failed``, with the
    sequences done), or ``running or killed`` for a started run whose record is still the one
    written at its start, or that has none (a live shard, or one killed with SIGKILL;
    ``vosbench run --resume RUN_DIR`` continues it)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    out = []
    for plan in sorted(root.rglob(PLAN)):
        if _hidden(plan, root):
            continue
        run_dir = plan.parent
        rel = run_dir.relative_to(root).as_posix()
        if not (run_dir / SUMMARY).is_file():
            out.append(f"{rel} (running or killed: no summary.json yet)")
            continue
        try:
            data = json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # find_records reports unreadable records
        status = str(data.get("status") or "complete")
        if status == "running":  # the record written at the start: a live run or one killed with SIGKILL
            out.append(f"{rel} (running or killed)")
        elif status != "complete":
            prog = data.get("progress") or {}
            done = f", {prog['sequences_done']}/{prog['sequences_total']} sequences" if "sequences_done" in prog else ""
            out.append(f"{rel} ({status}{done})")
    for summary in sorted(root.rglob(SUMMARY)):  # runs from before plan.json
        run_dir = summary.parent
        if _hidden(summary, root) or (run_dir / PLAN).is_file():
            continue
        try:
            status = str(json.loads(summary.read_text(encoding="utf-8")).get("status") or "complete")
        except (OSError, ValueError):
            continue
        if status != "complete":
            out.append(f"{run_dir.relative_to(root).as_posix()} ({status})")
    return sorted(out)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
