"""``vosbench run``: from a model and a dataset to predictions, scores and a run record.

A run folder ``<out>/<dataset>/<model>/<run-id>/`` holds ``predictions/<seq>/<frame>.png``,
``per_object.csv``, ``per_frame.csv`` and ``summary.json`` (written with status ``running`` when
the folder is made and rewritten last, atomically; its ``status`` is ``complete`` only when every
sequence finished). Predictions are written as they
are made, so an interrupted run keeps what it had done.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import resource
import secrets
import subprocess
import time
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vosbench import __version__
from vosbench.harness.errors import ConfigError, InputFileError, VosbenchError
from vosbench.harness.masks import atomic_write_text, write_label_png
from vosbench.harness.protocol import Protocol, get_protocol
from vosbench.harness.safepath import check_name, os_error_text, safe_join

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run (what the CLI parsed)."""

    model: str = "lab"
    dataset: str = "synthetic-davis"
    checkpoint: str | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    sequences: tuple[str, ...] = ()
    protocol: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    out: str = "results/runs"
    save_predictions: bool = True
    batch_size: int = 4
    #: features stored and matched in fp32 (default), bf16 or fp16 (GPU only)
    precision: str = "fp32"
    #: protocol grid ((setting, (value, ...)), ...), see vosbench.harness.sweep
    sweep: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass
class RunResult:
    run_dir: Path
    record: dict[str, Any]
    scores: list[Any]


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N")
    return torch.device(name)


def resolve_protocol(cfg: RunConfig, model_spec: Any, dataset_spec: Any) -> Protocol:
    name = cfg.protocol
    if name in (None, ""):
        name = dataset_spec.protocol or "crw"
    elif name == "native":
        name = model_spec.native_protocol
    return get_protocol(name, **cfg.overrides)


def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: Any) -> dict[str, Any]:
    import torch

    env = {
        "vosbench": __version__,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def peak_memory_mb(device: Any) -> float:
    """Peak resident memory of this process, MB. Linux: VmHWM, because ru_maxrss of a process
    started by fork + exec also counts the parent's memory at the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)  # kB
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return round(rss, 1)


def new_run_id() -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def new_record(
    cfg: RunConfig, model: Any, ds: Any, names: list[str], protocol: dict[str, Any], device: Any, task: str
) -> dict[str, Any]:
    """The head of a run record (``summary.json``): who, what, how; metrics and timings come later."""
    from vosbench.harness.registry import models
    from vosbench.models.checkpoints import sha256_file

    spec = models.get(cfg.model)
    ckpt = None if cfg.checkpoint is None else Path(cfg.checkpoint)
    ckpt_file = getattr(model, "checkpoint_path", None) or (ckpt if ckpt is not None and ckpt.is_file() else None)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": new_run_id(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "task": task,
        "model": {
            "name": cfg.model,
            "checkpoint": str(ckpt.resolve()) if ckpt is not None and ckpt.exists() else cfg.checkpoint,
            "checkpoint_sha256": sha256_file(ckpt_file) if ckpt_file else None,
            "options": dict(cfg.model_options),
            "source": models.source(cfg.model),
            "random_init": spec.checkpoint == "optional" and cfg.checkpoint is None,
        },
        "dataset": {**ds.describe(), "root": str(Path(ds.root).resolve()), "sequences": names},
        "protocol": protocol,
        "metrics": {},
        "environment": environment(device),
        "timings": {},
    }


def write_submission_zip(pred_dir: Path, zip_path: Path, prefix: str = "", sequences: list[str] | None = None) -> Path:
    """Zip ``pred_dir/<seq>/<frame>.png`` with sequence folders under ``prefix`` at the zip root.

    With ``sequences`` exactly those folders are packed, and a sequence without predictions is an
    error (a submission never silently lacks a video).
    """
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            if sequences is None:
                seq_dirs = sorted(p for p in pred_dir.iterdir() if p.is_dir())
            else:
                seq_dirs = [safe_join(pred_dir, s) for s in sequences]
            for seq_dir in seq_dirs:
                pngs = sorted(seq_dir.glob("*.png"))
                if sequences is not None and not pngs:
                    raise InputFileError(f"{seq_dir}: no predictions for sequence {seq_dir.name!r}; not writing {zip_path}")
                for png in pngs:
                    zf.write(png, f"{prefix}{seq_dir.name}/{png.name}")
        os.replace(tmp, zip_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return zip_path


def make_run_dir(cfg: RunConfig, run_id: str) -> Path:
    """Create ``<out>/<dataset>/<model>/<run-id>/``; an unwritable --out is one clear error."""
    run_dir = Path(cfg.out) / cfg.dataset / cfg.model / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as e:
        raise ConfigError(
            f"--out {cfg.out}: cannot create the run folder ({os_error_text(e)}); choose a writable folder for --out"
        ) from None
    return run_dir


def check_sequence_names(ds: Any, names: list[str]) -> list[str]:
    """Every sequence name becomes a folder or file name in the run folder: refuse unsafe ones
    (the adapters check their files line by line; this also covers plugin datasets)."""
    for n in names:
        check_name(n, f"dataset {ds.name} ({ds.root})", None, "sequence name")
    return names


def start_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write the record with status ``running`` as soon as the run folder exists: a run that dies
    is never invisible, and its file holds the space to record ``failed`` on a disk that fills up."""
    atomic_write_text(run_dir / "summary.json", json.dumps(record, indent=2) + "\n")


def record_failure(record: dict[str, Any], run_dir: Path, e: BaseException) -> str | None:
    """Mark ``record`` failed/interrupted with the error and write it; returns why it could not
    be written (e.g. the disk is full), or ``None``.

    When the atomic write fails (a full disk has no room for the temporary file), the ``running``
    record is overwritten in place, but only when the new text fits in the blocks that file
    already holds, so it can never be left half-written."""
    record["status"] = "failed" if isinstance(e, Exception) else "interrupted"
    record["error"] = os_error_text(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
    path = run_dir / "summary.json"
    data = (json.dumps(record, indent=2) + "\n").encode("utf-8")
    try:
        atomic_write_text(path, data.decode("utf-8"))
    except (OSError, VosbenchError) as w:
        try:
            st = path.stat()
            if len(data) > st.st_blocks * 512:
                return str(w)
            with path.open("r+b") as f:
                f.write(data)
                f.truncate()
        except OSError:
            return str(w)
    return None


def as_user_error(e: BaseException, where: str) -> BaseException:
    """The error to re-raise after recording a failure: OS errors (full disk, permissions)
    become one-line vosbench errors naming the path; the run folder is named either way."""
    if isinstance(e, OSError):
        return InputFileError(f"{os_error_text(e)}\n(run folder with the work done so far: {where})")
    if isinstance(e, VosbenchError):
        e.args = (f"{e}\n(run folder with the work done so far: {where})",)
    return e


def run(cfg: RunConfig, progress: Callable[[str, int, int], None] | None = None) -> RunResult:
    """Run ``cfg``: propagate, write predictions, score, write the record. See module docstring.

    With ``cfg.sweep`` this runs the whole grid (see :func:`run_sweep`) and returns the first
    grid point's result.
    """
    return _run(cfg, progress)[0]


def run_sweep(cfg: RunConfig, progress: Callable[[str, int, int], None] | None = None) -> list[RunResult]:
    """Run every grid point of ``cfg.sweep`` (one run folder and record each), computing the
    features of each sequence once and reusing them for all grid points."""
    return _run(cfg, progress)


def _run(cfg: RunConfig, progress: Callable[[str, int, int], None] | None) -> list[RunResult]:
    from vosbench.harness.engine import Timings, precision_dtype, propagate_many
    from vosbench.harness.factory import create_model, load_dataset
    from vosbench.harness.metrics import SequenceScorer
    from vosbench.harness.registry import datasets, models
    from vosbench.harness.sweep import grid

    t_start = time.perf_counter()
    model_spec = models.get(cfg.model)
    dataset_spec = datasets.get(cfg.dataset)
    both = sorted(set(cfg.overrides) & {k for k, _ in cfg.sweep})
    if both:
        raise ConfigError(f"{', '.join(both)}: given both as an override and in --sweep; keep one")
    points: list[dict[str, str]] = grid(cfg.sweep) if cfg.sweep else [{}]
    protocols = [
        resolve_protocol(dataclasses.replace(cfg, overrides={**cfg.overrides, **p}), model_spec, dataset_spec)
        for p in points
    ]
    device = resolve_device(cfg.device)
    dtype = precision_dtype(cfg.precision, device)
    ds = load_dataset(cfg.dataset, cfg.data_root, **cfg.dataset_options)
    if ds.task != "vos":
        if cfg.sweep or cfg.precision != "fp32":
            raise ConfigError(f"--sweep and --precision are not supported for {ds.task} datasets ({cfg.dataset}) yet")
        from vosbench.harness.pose import run_pose  # keypoint datasets (JHMDB)

        return [run_pose(cfg, ds, protocols[0], device, progress)]
    names = check_sequence_names(ds, ds.select(list(cfg.sequences)))
    seqs = [ds.sequence(n) for n in names]  # validates every sequence's layout before any work
    model = create_model(cfg.model, cfg.checkpoint, **cfg.model_options).to(device)
    sweep_id = new_run_id() if cfg.sweep else None

    folders: list[_RunFolder] = []
    for i, (point, protocol) in enumerate(zip(points, protocols)):
        record = new_record(cfg, model, ds, names, protocol.to_dict(), device, task="vos")
        record["precision"] = cfg.precision
        if cfg.sweep:
            record["sweep"] = {
                "id": sweep_id,
                "settings": {k: list(v) for k, v in cfg.sweep},
                "point": point,
                "index": i,
                "size": len(points),
            }
        run_dir = make_run_dir(cfg, record["run_id"])
        start_record(run_dir, record)
        folders.append(_RunFolder(run_dir, record, protocol, Timings(), device))
    total = sum(len(s.outputs()) for s in seqs)
    done = 0
    # model and dataset setup is counted once, in the first record (which also carries the
    # encoder's time); the other grid points' times are what each extra point costs
    folders[0].elapsed = time.perf_counter() - t_start
    try:
        for seq in seqs:
            scorers: list[Any] = []
            for folder in folders:
                if not seq.gt:
                    scorers.append(None)
                elif hasattr(ds, "make_scorer"):  # e.g. YouTube-VOS: objects scored from first appearance
                    scorers.append(ds.make_scorer(seq))
                else:
                    scorers.append(SequenceScorer(seq.name))
            outputs = set(seq.outputs())
            for t, outs in propagate_many(
                seq,
                model,
                [f.protocol for f in folders],
                device,
                [f.timings for f in folders],
                cfg.batch_size,
                model_spec.copy_first_frame,
                dtype=dtype,
            ):
                for folder, scorer, ids in zip(folders, scorers, outs):
                    t0 = time.perf_counter()
                    if t in outputs and cfg.save_predictions:
                        folder.submit_write(safe_join(folder.run_dir, "predictions", seq.name, f"{seq.frames[t]}.png"), ids)
                    if scorer is not None and t in seq.gt:
                        folder.submit_score(scorer, seq, t, ids)
                    folder.drain(16)
                    folder.elapsed += time.perf_counter() - t0
                if t in outputs:
                    done += 1
                    if progress:
                        progress(seq.name, done, total)
            for folder, scorer in zip(folders, scorers):
                t0 = time.perf_counter()
                folder.drain(0)
                if scorer is not None:
                    folder.scores.extend(scorer.result())
                folder.elapsed += time.perf_counter() - t0
    except BaseException as e:
        return _fail_folders(folders, e, t_start, device)
    results = []
    for folder in folders:
        try:
            results.append(_finish_folder(cfg, ds, seqs, names, folder, t_start, len(folders), device))
        except BaseException as e:
            return _fail_folders([f for f in folders if f.record.get("status") != "complete"], e, t_start, device)
    return results


def _fail_folders(folders: list[_RunFolder], e: BaseException, t_start: float, device: Any) -> Any:
    """Record the failure in every unfinished folder's summary.json (where the disk still lets
    us), then raise a one-line error naming the run folder."""
    unwritten = []
    for folder in folders:
        try:
            folder.shutdown()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            pass
        folder.record["timings"] = _timings(folder.timings, folder.t_eval, folder.t_start(t_start, len(folders)), device)
        why = record_failure(folder.record, folder.run_dir, e)
        if why:
            unwritten.append(why)
    where: Any = folders[0].run_dir if len(folders) == 1 else (folders[0].run_dir.parent if folders else "?")
    err = as_user_error(e, str(where))
    if unwritten and isinstance(err, VosbenchError):
        err.args = (f"{err}\n(summary.json could not be written either: {unwritten[0]})",)
    if err is e:
        raise e
    raise err from None


def _finish_folder(
    cfg: RunConfig, ds: Any, seqs: list[Any], names: list[str], folder: _RunFolder, t_start: float, n: int, device: Any
) -> RunResult:
    from vosbench.harness.metrics import summarize, write_per_frame_csv, write_per_object_csv

    t0 = time.perf_counter()
    folder.shutdown()
    record, run_dir = folder.record, folder.run_dir
    if folder.scores:
        write_per_object_csv(run_dir / "per_object.csv", folder.scores)
        write_per_frame_csv(run_dir / "per_frame.csv", folder.scores)
        record["metrics"] = summarize(folder.scores)
        if hasattr(ds, "extra_metrics"):  # e.g. YouTube-VOS seen/unseen split
            record["metrics"].update(ds.extra_metrics(folder.scores))
    # a server submission when there is no local GT, or always when the dataset asks for it
    # (YouTube-VOS valid with a local GT copy, e.g. the synthetic set)
    if (
        cfg.save_predictions
        and getattr(ds, "submission_prefix", None) is not None
        and (getattr(ds, "submission_with_gt", False) or not any(s.gt for s in seqs))
    ):
        z = write_submission_zip(folder.pred_dir, run_dir / "submission.zip", ds.submission_prefix, names)
        record["submission_zip"] = str(z)
    folder.elapsed += time.perf_counter() - t0
    record["timings"] = _timings(folder.timings, folder.t_eval, folder.t_start(t_start, n), device)
    atomic_write_text(run_dir / "summary.json", json.dumps({**record, "status": "complete"}, indent=2) + "\n")
    record["status"] = "complete"
    return RunResult(run_dir, record, folder.scores)


class _RunFolder:
    """One run folder being filled: its record, timings, and the threads writing its PNGs and
    scoring its frames (at most a few frames in flight, so memory does not grow with videos)."""

    def __init__(self, run_dir: Path, record: dict[str, Any], protocol: Protocol, timings: Any, device: Any):
        self.run_dir = run_dir
        self.pred_dir = run_dir / "predictions"
        self.record = record
        self.protocol = protocol
        self.timings = timings
        self.scores: list[Any] = []
        self.t_eval = 0.0
        self.elapsed = 0.0  # seconds of work done for this folder (its share of a sweep)
        self.pending: list[Future[Any]] = []
        self.writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vosbench-write")
        self.scorer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vosbench-score")

    def submit_write(self, path: Path, ids: Any) -> None:
        self.pending.append(self.writer.submit(write_label_png, path, ids))

    def submit_score(self, scorer: Any, seq: Any, t: int, ids: Any) -> None:
        def score() -> float:
            t0 = time.perf_counter()
            scorer.add(seq.read_gt(t), ids, frame=seq.frames[t])
            return time.perf_counter() - t0

        self.pending.append(self.scorer_pool.submit(score))

    def t_start(self, run_start: float, n_folders: int) -> float:
        """Start time for the record's total: the run's own start for a single run; for a grid
        point, as if its attributed work (encoder, its propagation, its writing and scoring)
        had run alone."""
        if n_folders == 1:
            return run_start
        t = self.timings
        return time.perf_counter() - (self.elapsed + t.decode_s + t.features_s + t.propagation_s)

    def drain(self, limit: int) -> None:
        """Wait until at most ``limit`` frames are in flight (re-raises their errors)."""
        while self.pending and (len(self.pending) > limit or self.pending[0].done()):
            r = self.pending.pop(0).result()
            if isinstance(r, float):
                self.t_eval += r

    def shutdown(self) -> None:
        self.writer.shutdown(wait=True)
        self.scorer_pool.shutdown(wait=True)


def _timings(timings: Any, t_eval: float, t_start: float, device: Any) -> dict[str, Any]:
    total = time.perf_counter() - t_start
    out = {
        "decode_s": round(timings.decode_s, 3),
        "features_s": round(timings.features_s, 3),
        "propagation_s": round(timings.propagation_s, 3),
        "evaluation_s": round(t_eval, 3),
        "total_s": round(total, 3),
        "frames": timings.frames,
        "frames_per_s": round(timings.frames / total, 3) if total > 0 else None,
        "peak_memory_mb": peak_memory_mb(device),
    }
    if device.type == "cuda":
        import torch

        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def config_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
