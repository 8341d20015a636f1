"""``vosbench run``: from a model and a dataset to predictions, scores and a run record.

A run folder ``<out>/<dataset>/<model>/<run-id>/`` holds ``predictions/<seq>/<frame>.png``,
``per_object.csv``, ``per_frame.csv`` and ``summary.json`` (written last, atomically; its
``status`` is ``complete`` only when every sequence finished). Predictions are written as they
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
from vosbench.harness.errors import ConfigError, VosbenchError
from vosbench.harness.masks import atomic_write_text, write_label_png
from vosbench.harness.protocol import Protocol, get_protocol

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
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return round(rss, 1)


def new_run_id() -> str:
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def write_submission_zip(pred_dir: Path, zip_path: Path, prefix: str = "") -> Path:
    """Zip ``pred_dir/<seq>/<frame>.png`` with sequence folders under ``prefix`` at the zip root."""
    tmp = zip_path.with_name(f".{zip_path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for seq_dir in sorted(p for p in pred_dir.iterdir() if p.is_dir()):
            for png in sorted(seq_dir.glob("*.png")):
                zf.write(png, f"{prefix}{seq_dir.name}/{png.name}")
    os.replace(tmp, zip_path)
    return zip_path


def run(cfg: RunConfig, progress: Callable[[str, int, int], None] | None = None) -> RunResult:
    """Run ``cfg``: propagate, write predictions, score, write the record. See module docstring."""
    import torch

    from vosbench.harness.engine import Timings, propagate_vos
    from vosbench.harness.factory import create_model, load_dataset
    from vosbench.harness.metrics import SequenceScorer, summarize, write_per_frame_csv, write_per_object_csv
    from vosbench.harness.registry import datasets, models
    from vosbench.models.checkpoints import sha256_file

    t_start = time.perf_counter()
    model_spec = models.get(cfg.model)
    dataset_spec = datasets.get(cfg.dataset)
    protocol = resolve_protocol(cfg, model_spec, dataset_spec)
    device = resolve_device(cfg.device)
    ds = load_dataset(cfg.dataset, cfg.data_root, **cfg.dataset_options)
    if ds.task != "vos":
        from vosbench.harness.pose import run_pose  # keypoint datasets (JHMDB)

        return run_pose(cfg, ds, protocol, device, progress)
    names = ds.select(list(cfg.sequences))
    seqs = [ds.sequence(n) for n in names]  # validates every sequence's layout before any work
    model = create_model(cfg.model, cfg.checkpoint, **cfg.model_options).to(device)
    ckpt = None if cfg.checkpoint is None else str(Path(cfg.checkpoint))
    ckpt_path = getattr(model, "checkpoint_path", None) or (
        Path(cfg.checkpoint) if cfg.checkpoint and Path(cfg.checkpoint).is_file() else None
    )
    ckpt_sha = sha256_file(ckpt_path) if ckpt_path else None

    run_id = new_run_id()
    run_dir = Path(cfg.out) / cfg.dataset / cfg.model / run_id
    pred_dir = run_dir / "predictions"
    run_dir.mkdir(parents=True, exist_ok=False)
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "status": "running",
        "task": "vos",
        "model": {
            "name": cfg.model,
            "checkpoint": str(Path(ckpt).resolve()) if ckpt and Path(ckpt).exists() else ckpt,
            "checkpoint_sha256": ckpt_sha,
            "options": dict(cfg.model_options),
            "source": models.source(cfg.model),
            "random_init": model_spec.checkpoint == "optional" and cfg.checkpoint is None,
        },
        "dataset": {**ds.describe(), "root": str(Path(ds.root).resolve()), "sequences": names},
        "protocol": protocol.to_dict(),
        "metrics": {},
        "environment": environment(device),
        "timings": {},
    }
    timings = Timings()
    scores: list[Any] = []
    t_eval = 0.0
    writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vosbench-write")
    scorer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vosbench-score")
    total = sum(len(s.outputs()) for s in seqs)
    done = 0
    try:
        for seq in seqs:
            if not seq.gt:
                scorer = None
            elif hasattr(ds, "make_scorer"):  # e.g. YouTube-VOS: objects scored from first appearance
                scorer = ds.make_scorer(seq)
            else:
                scorer = SequenceScorer(seq.name)
            outputs = set(seq.outputs())
            pending: list[Future[Any]] = []

            def score(t: int, ids: Any, scorer: Any = scorer, seq: Any = seq) -> float:
                t0 = time.perf_counter()
                scorer.add(seq.read_gt(t), ids, frame=seq.frames[t])
                return time.perf_counter() - t0

            def drain(limit: int) -> None:
                nonlocal t_eval
                # keep at most `limit` frames in flight so memory does not grow with video length
                while pending and (len(pending) > limit or pending[0].done()):
                    r = pending.pop(0).result()  # re-raises errors from writing or scoring
                    if isinstance(r, float):
                        t_eval += r

            for t, ids in propagate_vos(
                seq, model, protocol, device, timings, cfg.batch_size, model_spec.copy_first_frame
            ):
                if t in outputs and cfg.save_predictions:
                    pending.append(writer.submit(write_label_png, pred_dir / seq.name / f"{seq.frames[t]}.png", ids))
                if scorer is not None and t in seq.gt:
                    pending.append(scorer_pool.submit(score, t, ids))
                drain(16)
                if t in outputs:
                    done += 1
                    if progress:
                        progress(seq.name, done, total)
            drain(0)
            if scorer is not None:
                scores.extend(scorer.result())
    except BaseException as e:
        record["status"] = "failed" if isinstance(e, Exception) else "interrupted"
        record["error"] = f"{type(e).__name__}: {e}"
        record["timings"] = _timings(timings, t_eval, t_start, device)
        writer.shutdown(wait=True)
        scorer_pool.shutdown(wait=True)
        atomic_write_text(run_dir / "summary.json", json.dumps(record, indent=2) + "\n")
        if isinstance(e, VosbenchError):
            e.args = (f"{e}\n(run folder with the work done so far: {run_dir})",)
        raise
    writer.shutdown(wait=True)
    scorer_pool.shutdown(wait=True)
    if scores:
        write_per_object_csv(run_dir / "per_object.csv", scores)
        write_per_frame_csv(run_dir / "per_frame.csv", scores)
        record["metrics"] = summarize(scores)
        if hasattr(ds, "extra_metrics"):  # e.g. YouTube-VOS seen/unseen split
            record["metrics"].update(ds.extra_metrics(scores))
    # a server submission when there is no local GT, or always when the dataset asks for it
    # (YouTube-VOS valid with a local GT copy, e.g. the synthetic set)
    if (
        cfg.save_predictions
        and getattr(ds, "submission_prefix", None) is not None
        and (getattr(ds, "submission_with_gt", False) or not any(s.gt for s in seqs))
    ):
        z = write_submission_zip(pred_dir, run_dir / "submission.zip", ds.submission_prefix)
        record["submission_zip"] = str(z)
    record["status"] = "complete"
    record["timings"] = _timings(timings, t_eval, t_start, device)
    atomic_write_text(run_dir / "summary.json", json.dumps(record, indent=2) + "\n")
    return RunResult(run_dir, record, scores)


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
