"""The Python API for notebooks: :func:`run` and :func:`evaluate` (re-exported as
``vosbench.run`` / ``vosbench.evaluate``), returning pandas DataFrames.

``model`` is a registered name or any ``torch.nn.Module`` that follows the encoder contract: RGB
(B, 3, H, W) in [0, 1] -> features (B, C, ceil(H / s), ceil(W / s)). A
:class:`~vosbench.models.base.Encoder` is used as it is; a plain module needs a ``stride``
attribute (and may have ``input_multiple``: inputs are padded to it) and does its own input
normalisation. A module is registered for the duration of the run under ``name`` (default: its
class name, ``@python`` appended when that name is taken by a registered model), so the run
record and the leaderboard never mistake it for a registered model.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from vosbench.core.errors import ConfigError
from vosbench.core.names import comma_list
from vosbench.core.registry import models
from vosbench.core.safepath import name_problem
from vosbench.core.specs import ModelSpec
from vosbench.evaluate.base import check_options
from vosbench.evaluate.davis import EvaluationResult
from vosbench.evaluate.dispatch import evaluate_benchmark
from vosbench.evaluate.ytvos import YTVOSEvaluation
from vosbench.models.base import Encoder
from vosbench.propagation.protocol import Protocol
from vosbench.records import parsing_files as pf
from vosbench.runs.config import RunConfig
from vosbench.runs.lifecycle import RunResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from vosbench.evaluate.base import JSON, MetricValue
    from vosbench.scoring.jf import ObjectScore

#: protocol settings accepted as keyword arguments
PROTOCOL_KEYS = tuple(f.name for f in dataclasses.fields(Protocol) if f.name not in ("name", "version"))
#: run settings accepted as keyword arguments (``RunConfig`` fields)
RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in ("model", "dataset"))


class ModuleEncoder(Encoder):
    """A plain ``nn.Module`` with a ``stride`` attribute, wrapped as an :class:`Encoder`."""

    def __init__(self, spec: ModelSpec, net: nn.Module):
        super().__init__(spec)
        self.net = net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _probe(module: nn.Module, stride: int, multiple: int, what: str) -> int:
    """Feature channels of ``module``, checking the output shape on a small input."""
    h, w = 4 * stride * max(multiple, 1), 5 * stride * max(multiple, 1)
    try:
        param = next(iter(module.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            out = module(torch.zeros(1, 3, h, w, device=device))
    except Exception as e:  # noqa: BLE001 - the user's module: say what we tried
        raise ConfigError(f"{what}: calling it on a (1, 3, {h}, {w}) RGB tensor failed: {type(e).__name__}: {e}") from None
    want = (math.ceil(h / stride), math.ceil(w / stride))
    if not isinstance(out, torch.Tensor) or out.ndim != 4 or tuple(out.shape[-2:]) != want:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(
            f"{what}: on a (1, 3, {h}, {w}) input it returned {got}; the encoder contract is features of shape "
            f"(B, C, ceil(H/stride), ceil(W/stride)) = (1, C, {want[0]}, {want[1]}) with stride={stride}"
        )
    return int(out.shape[1])


def as_encoder(module: nn.Module, name: str | None = None) -> tuple[Encoder, ModelSpec]:
    """``module`` as an :class:`Encoder` and the spec it is registered under for a run."""
    if isinstance(module, Encoder):
        enc: Encoder = module
        base = enc.spec
        default = base.name
    else:
        stride = getattr(module, "stride", None)
        if isinstance(stride, (tuple, list)) and len(set(stride)) == 1:
            stride = stride[0]
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
            raise ConfigError(
                f"model {type(module).__name__}: a plain nn.Module needs an integer attribute `stride` (its output "
                f"stride, e.g. 8), got {stride!r}; or subclass vosbench.models.base.Encoder"
            )
        multiple = int(getattr(module, "input_multiple", 1) or 1)
        channels = _probe(module.eval(), stride, multiple, f"model {type(module).__name__}")
        base = ModelSpec(
            name=type(module).__name__,
            description=f"Python object {type(module).__module__}.{type(module).__qualname__}",
            factory="",
            stride=stride,
            channels=channels,
            input_multiple=multiple,
        )
        default = base.name
        enc = ModuleEncoder(base, module)
    chosen = name if name is not None else default
    problem = name_problem(chosen)
    if problem:
        given = "name=" if name is not None else f"the class name of {type(module).__qualname__}"
        raise ConfigError(f"model {chosen!r} ({given}): not usable as a run folder name: {problem}; pass name=\"...\"")
    if name is None and chosen in models:
        chosen = f"{chosen}@python"
    spec = dataclasses.replace(
        base,
        name=chosen,
        factory=lambda spec, checkpoint=None, **options: enc,
        checkpoint="none",  # weights are whatever the object holds; not a random-init run
        weights=(),
    )
    return enc, spec


def _frames_from_scores(scores: list[ObjectScore]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(per_object, per_frame, per_sequence) DataFrames of J/F scores, as fractions; frame names
    stay strings (``"00001"``)."""
    import pandas as pd

    from vosbench.scoring.jf import METRIC_KEYS

    obj = pd.DataFrame(
        [{"sequence": s.sequence, "object": int(s.object), **{k: float(getattr(s, k)) for k in METRIC_KEYS}} for s in scores],
        columns=["sequence", "object", *METRIC_KEYS],
    )
    obj.insert(2, "JF_mean", (obj["J_mean"] + obj["F_mean"]) / 2)
    rows = [
        {"sequence": s.sequence, "object": int(s.object), "frame": str(f), "J": float(j), "F": float(ff)}
        for s in scores
        for f, j, ff in zip(s.frames, s.J_frames, s.F_frames)
        if not math.isnan(j)
    ]
    frame = pd.DataFrame(rows, columns=["sequence", "object", "frame", "J", "F"]).astype({"frame": str})
    seq = (
        obj.dropna(subset=["J_mean"])
        .groupby("sequence", sort=False)
        .agg(objects=("object", "size"), J_mean=("J_mean", "mean"), F_mean=("F_mean", "mean"))
        .reset_index()
    )
    seq.insert(2, "JF_mean", (seq["J_mean"] + seq["F_mean"]) / 2)
    return obj, frame, seq


@dataclass
class RunOutput:
    """What :func:`run` returns.

    Attributes:
        run_dir: The run folder (``summary.json``, predictions, CSVs).
        record: The run record (``summary.json`` as a dict; metrics are fractions).
        per_object: J/F per (sequence, object) with ``JF_mean``; for keypoint runs, PCK per joint.
        per_frame: J and F per (sequence, object, frame); for keypoint runs, the predicted
            keypoints (``video, frame, joint, x, y``). ``frame`` holds strings (``"00001"``).
        per_sequence: Mean J, F, J&F per sequence; for keypoint runs, PCK per video.
        unit: ``"fraction"``: every score here is in [0, 1] (multiply by 100 for percent).
    """

    run_dir: Path
    record: dict[str, Any]
    per_object: pd.DataFrame
    per_frame: pd.DataFrame
    per_sequence: pd.DataFrame
    unit: str = "fraction"

    @property
    def metrics(self) -> dict[str, Any]:
        """The run's overall metrics (fractions)."""
        return dict(self.record.get("metrics", {}))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items() if isinstance(v, float))
        return f"RunOutput({self.record.get('model', {}).get('name')} on {self.record.get('dataset', {}).get('name')}: {shown}; {self.run_dir})"


@dataclass
class EvalOutput:
    """What :func:`evaluate` returns: overall ``metrics`` and the per-object / per-frame /
    per-sequence DataFrames (fractions; frame names as strings).

    Attributes:
        metrics: Overall metrics, as ``vosbench eval`` writes them to ``FILE.summary.json``.
        per_object: J/F per (sequence, object) with ``JF_mean`` (YouTube-VOS adds ``category``
            and ``group``); for JHMDB, PCK per joint.
        per_frame: J and F per (sequence, object, frame); for JHMDB, the keypoints read
            (``video, frame, joint, x, y``).
        per_sequence: Mean J, F, J&F per sequence; for JHMDB, PCK per video; for TAP-Vid, the
            metrics per video (``per_object`` and ``per_frame`` are then empty).
        binary: DAVIS: sequence -> whether its GT was read as DAVIS-2016 binary masks.
        benchmark: ``davis``, ``ytvos`` or ``jhmdb``.
        facts: What was scored (the summary's facts: counts, inputs, rules, version, seconds).
    """

    metrics: dict[str, MetricValue]
    per_object: pd.DataFrame
    per_frame: pd.DataFrame
    per_sequence: pd.DataFrame
    binary: dict[str, bool] = field(default_factory=dict)
    unit: str = "fraction"
    benchmark: str = "davis"
    facts: dict[str, JSON] = field(default_factory=dict)


def _keypoint_frame(files: list[Path]) -> pd.DataFrame:
    """Keypoint CSVs (``<video>.csv``: frame, joint, x, y) as one table with a ``video`` column."""
    import pandas as pd

    parts = []
    for f in files:
        df = pd.read_csv(f, dtype={"frame": str})
        df.insert(0, "video", f.stem)
        parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["video", "frame", "joint", "x", "y"])


def _pose_frames(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    per_joint = pd.read_csv(run_dir / "per_joint_pck.csv", dtype={"joint": str})
    per_video = pd.read_csv(run_dir / "per_video_pck.csv", dtype={"video": str})
    return per_joint, _keypoint_frame(sorted((run_dir / "keypoints").glob("*.csv"))), per_video


def _parsing_frames(per_class: str, confusion: str, per_video: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """VIP tables (CSV texts) as DataFrames: per class, the confusion cells, per video."""
    import pandas as pd

    return (
        pd.read_csv(io.StringIO(per_class), dtype={"name": str}),
        pd.read_csv(io.StringIO(confusion), dtype={"video": str}),
        pd.read_csv(io.StringIO(per_video), dtype={"video": str}),
    )


def build_config(model_name: str, dataset: str, settings: dict[str, Any]) -> RunConfig:
    """A :class:`RunConfig` from keyword settings: run options (``RunConfig`` fields, and
    ``large_grid``) and protocol settings (``topk=5``, ``radius=None`` ...), checked by name,
    type and range (:meth:`RunConfig.from_options`)."""
    unknown = sorted(set(settings) - set(RUN_KEYS) - set(PROTOCOL_KEYS) - {"large_grid"})
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)}. Run settings: {', '.join(RUN_KEYS)}; protocol settings: "
            f"{', '.join(PROTOCOL_KEYS)}"
        )
    run_kw = {k: v for k, v in settings.items() if k in RUN_KEYS}
    overrides = run_kw.pop("overrides", None) or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"overrides= must be a dict of protocol settings, got {overrides!r}")
    overrides = {**overrides, **{k: settings[k] for k in PROTOCOL_KEYS if k in settings}}
    large_grid = settings.get("large_grid", False)
    if not isinstance(large_grid, bool):
        raise ConfigError(f"large_grid= must be True or False, got {large_grid!r}")
    return RunConfig.from_options(model=model_name, dataset=dataset, overrides=overrides, large_grid=large_grid, **run_kw)


@contextmanager
def registered(model: str | nn.Module, name: str | None) -> Iterator[str]:
    """The registered name to run ``model`` under: a name as it is, a module registered (as
    :func:`as_encoder` wraps it) for the duration of the ``with`` block."""
    if isinstance(model, str):
        yield model
    elif isinstance(model, nn.Module):
        _, spec = as_encoder(model, name)
        models.register(spec, source=f"python: {type(model).__module__}.{type(model).__qualname__}")
        try:
            yield spec.name
        finally:
            models.unregister(spec.name)
    else:
        raise ConfigError(f"model must be a registered name or a torch.nn.Module, got {type(model).__name__}")


def check_module_checkpoint(model: str | nn.Module, settings: Mapping[str, Any]) -> None:
    """Refuse ``checkpoint=`` with a module (its weights are whatever it holds)."""
    if not isinstance(model, str) and settings.get("checkpoint") is not None:
        raise ConfigError("checkpoint= applies to registered model names; load the weights into your module instead")


def run(model: str | nn.Module, dataset: str, *, name: str | None = None, **settings: Any) -> RunOutput:
    """See :func:`vosbench.run`."""
    from vosbench.runs import run_sweep

    check_module_checkpoint(model, settings)
    with registered(model, name) as model_name:
        results = run_sweep(build_config(model_name, dataset, settings))
    if len(results) > 1:
        raise ConfigError("sweep= gives several runs; call vosbench.runs.run_sweep(RunConfig(...)) for grids")
    return run_output(results[0])


def run_output(res: RunResult) -> RunOutput:
    """A finished run's folder, record and score tables as a :class:`RunOutput`."""
    if res.record.get("task") == "pose":
        per_object, per_frame, per_sequence = _pose_frames(res.run_dir)
    elif res.record.get("task") == "parsing":
        per_object, per_frame, per_sequence = _parsing_frames(
            *((res.run_dir / f).read_text(encoding="utf-8") for f in (pf.PER_CLASS, pf.CONFUSION, pf.PER_VIDEO))
        )
    else:
        per_object, per_frame, per_sequence = _frames_from_scores(res.scores)
    return RunOutput(res.run_dir, dict(res.record), per_object, per_frame, per_sequence)


#: keyword options of :func:`evaluate` (besides ``benchmark``)
EVAL_OPTIONS = ("sequences", "workers", "binary", "meta", "unseen", "split", "subset", "scorer", "query_mode")


def evaluate(gt: str | Path, pred: str | Path, *, benchmark: str = "davis", **options: Any) -> EvalOutput:
    """See :func:`vosbench.evaluate`."""
    import pandas as pd

    unknown = sorted(set(options) - set(EVAL_OPTIONS))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)}; evaluate accepts benchmark, {', '.join(sorted(EVAL_OPTIONS))}"
        )
    check_options(benchmark, [k for k, v in options.items() if v is not None], _keyword)
    seqs = options.pop("sequences", None)
    if isinstance(seqs, str):
        seqs = comma_list(seqs)
    ev = evaluate_benchmark(benchmark, gt, pred, sequences=seqs, label=_keyword, **options)
    if benchmark in ("jhmdb", "badja"):
        per_object = pd.read_csv(io.StringIO(ev.tables[".per_joint.csv"]), dtype={"joint": str})
        per_sequence = pd.read_csv(io.StringIO(ev.tables[".csv"]), dtype={"video": str})
        per_frame = _keypoint_frame([ev.pred / f"{video}.csv" for video in ev.sequences])
    elif benchmark == "vip":
        per_object, per_frame, per_sequence = _parsing_frames(
            ev.tables[".per_class.csv"], ev.tables[".confusion.csv"], ev.tables[".csv"]
        )
    elif benchmark == "tapvid":  # per video only: tapnet's metrics are per video
        per_sequence = pd.read_csv(io.StringIO(ev.tables[".csv"]), dtype={"video": str})
        per_object, per_frame = per_sequence.iloc[0:0], per_sequence.iloc[0:0]
    else:
        per_object, per_frame, per_sequence = _frames_from_scores(ev.scores)
    if isinstance(ev.detail, YTVOSEvaluation):
        res = ev.detail
        keys = list(zip(per_object["sequence"], per_object["object"]))
        per_object.insert(2, "category", [res.categories.get(k) for k in keys])
        per_object.insert(3, "group", [res.group(*k) for k in keys])
    binary = dict(ev.detail.binary) if isinstance(ev.detail, EvaluationResult) else {}
    return EvalOutput(ev.metrics, per_object, per_frame, per_sequence, binary, benchmark=benchmark, facts=ev.facts)


def _keyword(option: str) -> str:
    """An option as :func:`evaluate` spells it in messages (``meta=``; ``benchmark`` as such)."""
    return option if option == "benchmark" else f"{option}="
