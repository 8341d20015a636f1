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

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from vosbench.core.errors import InputFileError
from vosbench.records.schema import PLAN, SCHEMA_VERSION, SUMMARY



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
        summary: The whole parsed ``summary.json``.
    """

    run_dir: Path
    run_id: str
    created: str
    task: str
    model: str
    model_options: dict[str, Any]
    checkpoint: str | None
    checkpoint_sha256: str | None
    dataset: str
    dataset_root: str | None
    sequences: list[str]
    protocol: dict[str, Any]
    metrics: dict[str, float]
    pck_curve: dict[float, float] = field(default_factory=dict)
    status: str = "complete"
    random_init: bool = False
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def protocol_name(self) -> str:
        return str(self.protocol.get("name", "?"))

    @property
    def protocol_version(self) -> int:
        return int(self.protocol.get("version", 0))

    def protocol_settings(self) -> dict[str, Any]:
        """Protocol settings without name and version, in recorded order."""
        return {k: v for k, v in self.protocol.items() if k not in ("name", "version")}

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


def _as_fraction(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


#: what a record without ``environment.tf32`` (written before --precision fp32 meant true fp32 on
#: GPUs and half-precision features were matched in fp32) actually computed
LEGACY_GPU_FP32 = "fp32-cudnn-tf32"  # cuDNN convolutions in TF32, torch's default then
LEGACY_HALF = "{}-half-products"  # similarities, top-k and softmax in bf16/fp16


def arithmetic(data: dict[str, Any]) -> str:
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


def load_record(run_dir: str | Path) -> RunRecord:
    """Read ``RUN_DIR/summary.json``.

    Args:
        run_dir: A run folder (or the ``summary.json`` file itself).

    Raises:
        InputFileError: the file is missing, not JSON, of a newer schema, or lacks required fields.
    """
    p = Path(run_dir)
    path = p if p.name == SUMMARY and p.is_file() else p / SUMMARY
    if not path.is_file():
        raise InputFileError(f"{path}: not found; {p} is not a run folder written by `vosbench run`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
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

    def section(key: str) -> dict[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            raise _fail(path, f"missing object {key!r}")
        return value

    model, dataset, protocol, metrics = (section(k) for k in ("model", "dataset", "protocol", "metrics"))
    precision = arithmetic(data)
    if precision != "fp32":
        # half-precision features (or TF32 products) may change top-k choices: such runs are never
        # merged with true-fp32 ones
        protocol = {**protocol, "precision": precision}
    run_id = data.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise _fail(path, "missing 'run_id'")
    if not isinstance(model.get("name"), str):
        raise _fail(path, "missing 'model.name'")
    if not isinstance(dataset.get("name"), str):
        raise _fail(path, "missing 'dataset.name'")
    if not isinstance(protocol.get("name"), str) or not isinstance(protocol.get("version"), int):
        raise _fail(path, "missing 'protocol.name' or integer 'protocol.version'")

    scalars: dict[str, float] = {}
    curve: dict[float, float] = {}
    for key, value in metrics.items():
        if key == "pck_curve" and isinstance(value, dict):
            for thr, v in value.items():
                fv = _as_fraction(v)
                try:
                    t = float(thr)
                except ValueError:
                    raise _fail(path, f"pck_curve threshold {thr!r} is not a number") from None
                if fv is not None:
                    curve[t] = fv
            continue
        fv = _as_fraction(value)
        if fv is not None:
            scalars[key] = fv
        elif value is not None and not (isinstance(value, float) and math.isnan(value)):
            raise _fail(path, f"metric {key!r} is {value!r}, expected a number or null")
    options = model.get("options") or {}
    return RunRecord(
        run_dir=path.parent,
        run_id=run_id,
        created=str(data.get("created") or ""),
        task=str(data.get("task") or dataset.get("task") or "vos"),
        model=model["name"],
        model_options=dict(options) if isinstance(options, dict) else {},
        checkpoint=model.get("checkpoint"),
        checkpoint_sha256=model.get("checkpoint_sha256"),
        dataset=dataset["name"],
        dataset_root=dataset.get("root"),
        sequences=[str(s) for s in dataset.get("sequences") or []],
        protocol=dict(protocol),
        metrics=scalars,
        pck_curve=dict(sorted(curve.items())),
        status=str(data.get("status") or "complete"),
        random_init=bool(model.get("random_init")),
        summary=data,
    )


def find_records(runs_dir: str | Path, *, include_incomplete: bool = False) -> list[RunRecord]:
    """Every finished run record under ``runs_dir`` (any depth), sorted by dataset, model, time.

    Runs whose record says they are still running, failed or were interrupted are left out
    unless ``include_incomplete`` (see :func:`count_incomplete`); a ``summary.json`` that cannot
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


def count_incomplete(records: Iterable[RunRecord]) -> int:
    """How many of ``records`` did not finish (status other than ``complete``)."""
    return sum(1 for r in records if not r.complete)


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


def fmt_setting(value: Any) -> str:
    """A protocol setting or model option as text: ``none``, ``true``/``false``, numbers as repr."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(fmt_setting(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={fmt_setting(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def model_label(record: RunRecord) -> str:
    """Model name, with its options when any were given (``resnet18 (seed=1)``)."""
    if not record.model_options:
        return record.model
    opts = ", ".join(f"{k}={fmt_setting(v)}" for k, v in sorted(record.model_options.items()))
    return f"{record.model} ({opts})"


def checkpoint_label(record: RunRecord) -> str:
    """File name plus the first 12 hex digits of its SHA-256; ``random init`` for a model run on
    random weights; ``-`` for a model that takes no checkpoint.

    The folder part of the path is left out on purpose: the same file on another machine is the
    same checkpoint, and a baseline must match there too.
    """
    sha = record.checkpoint_sha256
    name = Path(record.checkpoint).name if record.checkpoint else None
    if sha and name:
        return f"{name} ({sha[:12]})"
    if sha:
        return f"sha256:{sha[:12]}"
    if name:
        return name
    return "random init" if record.random_init else "-"


def settings_key(settings: dict[str, Any]) -> str:
    """Canonical one-line form of protocol settings (sorted ``key=value;...``), used as identity."""
    return ";".join(f"{k}={fmt_setting(v)}" for k, v in sorted(settings.items()))


def sequences_label(record: RunRecord) -> str:
    """The sequences a run covered: up to three names joined by ``+``, else their count and a short
    hash of the sorted names (``6 sequences #1a2b3c``); empty when the record lists none.

    Part of a row's identity, so a run on ``--sequences`` never replaces a run on the whole set.
    """
    names = sorted(set(record.sequences))
    if not names:
        return ""
    if len(names) <= 3:
        return "+".join(names)
    digest = hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()[:6]
    return f"{len(names)} sequences #{digest}"


def identity(record: RunRecord) -> tuple[str, str, str, str, str, str]:
    """What makes two runs comparable: dataset, model (+options), checkpoint, protocol, settings,
    and the set of sequences."""
    return (
        record.dataset,
        model_label(record),
        checkpoint_label(record),
        f"{record.protocol_name} v{record.protocol_version}",
        settings_key(record.protocol_settings()),
        sequences_label(record),
    )


def select_runs(records: Iterable[RunRecord], *, all_runs: bool = False) -> list[RunRecord]:
    """The latest run of each identity (by ``created``, then run id), or every run with ``all_runs``."""
    records = list(records)
    if all_runs:
        return records
    latest: dict[tuple[str, ...], RunRecord] = {}
    for r in records:
        key = identity(r)
        if key not in latest or r.sort_time() > latest[key].sort_time():
            latest[key] = r
    return list(latest.values())


# --- per-object / per-frame tables ---------------------------------------------------------------


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise InputFileError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(required)}"
                )
            return list(reader)
    except FileNotFoundError:
        raise InputFileError(f"{path}: not found (was the run written by an older vosbench?)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(f"{path}: cannot read CSV ({e})") from None


def _num(path: Path, row: dict[str, str], key: str) -> float:
    text = (row.get(key) or "").strip()
    if text in ("", "nan", "NaN", "-"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputFileError(f"{path}: {key}={text!r} is not a number (row {row})") from None


PER_OBJECT_COLUMNS = ("sequence", "object", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")


def read_per_object(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``per_object.csv``: sequence, object, then the six statistics as floats."""
    path = Path(run_dir) / "per_object.csv"
    rows = _read_csv(path, PER_OBJECT_COLUMNS)
    out = []
    for row in rows:
        item: dict[str, Any] = {"sequence": row["sequence"], "object": row["object"]}
        for key in PER_OBJECT_COLUMNS[2:]:
            item[key] = _num(path, row, key)
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


def per_video_pck(run_dir: str | Path, metric: str = "PCK@0.1") -> dict[str, float]:
    """Video -> PCK (fraction) from a keypoint run's ``per_video_pck.csv`` (columns video, ..., metric)."""
    path = Path(run_dir) / "per_video_pck.csv"
    return {row["video"]: _num(path, row, metric) for row in _read_csv(path, ("video", metric))}


def read_per_frame(run_dir: str | Path) -> dict[str, dict[str, list[tuple[str, float, float]]]]:
    """``per_frame.csv`` as sequence -> object -> [(frame, J, F), ...] in file order."""
    path = Path(run_dir) / "per_frame.csv"
    out: dict[str, dict[str, list[tuple[str, float, float]]]] = {}
    for row in _read_csv(path, ("sequence", "object", "frame", "J", "F")):
        out.setdefault(row["sequence"], {}).setdefault(row["object"], []).append(
            (row["frame"], _num(path, row, "J"), _num(path, row, "F"))
        )
    return out


def read_keypoints(path: str | Path) -> dict[str, dict[int, tuple[float, float]]]:
    """``keypoints/<video>.csv`` as frame -> joint index -> (x, y) in pixels of the original frame."""
    p = Path(path)
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for row in _read_csv(p, ("frame", "joint", "x", "y")):
        try:
            joint = int(row["joint"])
        except ValueError:
            raise InputFileError(f"{p}: joint {row['joint']!r} is not an integer index") from None
        out.setdefault(row["frame"].strip(), {})[joint] = (_num(p, row, "x"), _num(p, row, "y"))
    return out


def read_per_joint_pck(run_dir: str | Path) -> tuple[list[str], dict[str, list[float]]]:
    """``per_joint_pck.csv``: joint names (first column) and each PCK column's values."""
    path = Path(run_dir) / "per_joint_pck.csv"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except FileNotFoundError:
        raise InputFileError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputFileError(f"{path}: cannot read CSV ({e})") from None
    if not header or len(header) < 2:
        raise InputFileError(f"{path}: expected a header 'joint,PCK@0.1,...'")
    joints = [r[0] for r in rows if r]
    cols: dict[str, list[float]] = {}
    for j, name in enumerate(header[1:], start=1):
        if not name.upper().startswith("PCK"):
            continue
        vals = []
        for r in rows:
            try:
                vals.append(float(r[j]))
            except (IndexError, ValueError):
                vals.append(math.nan)
        cols[name] = vals
    return joints, cols
