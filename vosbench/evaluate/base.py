"""What every folder evaluator returns (:class:`Evaluation`), the options each benchmark takes, the
scorer set-up shared with a run, and the files ``--out`` writes.

A folder evaluator scores predictions made by any tool against a benchmark's ground truth, with the
rules of a ``vosbench run`` on that benchmark (README, sections "J&F evaluation", "Scoring other
tools' YouTube-VOS predictions", "Scoring keypoint CSVs"). Each returns an :class:`Evaluation`:
its metrics (fractions, as in a run record's ``metrics``), the CSV tables ``--out`` writes, the
facts of ``FILE.summary.json`` and the benchmark's own result for the printed tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar, Union

from vosbench.core.errors import ConfigError
from vosbench.core.io import atomic_write_text
from vosbench.records.schema import write_eval_summary
from vosbench.scoring.jf import ObjectScore, SequenceScorer, per_object_csv_text, write_per_frame_csv

#: the benchmarks ``vosbench eval`` and ``vosbench.evaluate`` score
BENCHMARKS = ("davis", "ytvos", "jhmdb", "badja")

#: option -> the benchmarks it applies to (options absent here apply to every benchmark)
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "meta": ("ytvos",),
    "unseen": ("ytvos",),
    "split": ("jhmdb",),
    "subset": ("jhmdb",),
    "binary": ("davis",),
    "workers": ("davis", "ytvos"),
    "per_frame": ("davis", "ytvos"),
}

#: a value of ``FILE.summary.json`` (JSON)
JSON = Union[str, int, float, bool, None, Sequence["JSON"], Mapping[str, "JSON"]]
#: a metric: a fraction, ``None`` for an empty group (YouTube-VOS unseen), or a curve (PCK)
MetricValue = Union[float, None, Mapping[str, Union[float, None]]]
#: progress of an evaluation: (sequences done, sequences in all); called with 0 first
ProgressHook = Callable[[int, int], None]

R = TypeVar("R", covariant=True)
D = TypeVar("D")


@dataclass(frozen=True)
class Evaluation(Generic[R]):
    """The result of one folder evaluator, the same shape for every benchmark.

    Attributes:
        benchmark: ``davis``, ``ytvos`` or ``jhmdb``.
        pred: What was read: the prediction folder, the zip or the keypoint folder.
        metrics: Overall metrics, fractions (as a run record's ``metrics``).
        tables: ``--out`` file suffix -> CSV text; ``".csv"`` is the main table (per object or
            per video), the others are written beside it (``".per_joint.csv"``).
        facts: What ``FILE.summary.json`` says besides the metrics (what was scored, the inputs,
            the rules, the version, the wall time), in the order written.
        sequences: Sequence (video) -> number of frames read.
        seconds: Wall time.
        detail: The benchmark's own result (e.g. the pooled PCK, the object categories), for its
            printed tables.
        empty: Why nothing could be scored (one line naming the input), ``None`` when something was.
        scores: Per-object J/F scores (``[]`` for keypoints); ``FILE.per_frame.csv`` lists their frames.
    """

    benchmark: str
    pred: Path
    metrics: dict[str, MetricValue]
    tables: dict[str, str]
    facts: dict[str, JSON]
    sequences: dict[str, int]
    seconds: float
    detail: R
    empty: str | None = None
    scores: list[ObjectScore] = field(default_factory=list)


def object_evaluation(
    benchmark: str,
    pred: Path,
    scores: list[ObjectScore],
    metrics: dict[str, MetricValue],
    facts: dict[str, JSON],
    sequences: dict[str, int],
    seconds: float,
    detail: D,
    empty: str | None,
) -> Evaluation[D]:
    """The :class:`Evaluation` of per-object J/F scores: ``--out`` writes the per-object CSV."""
    tables = {".csv": per_object_csv_text(scores)}
    return Evaluation(benchmark, pred, metrics, tables, facts, sequences, seconds, detail, empty, scores)


def check_options(benchmark: str, given: Iterable[str], label: Callable[[str], str] = str) -> None:
    """Refuse an unknown benchmark and an option (``given``) that does not apply to ``benchmark``;
    ``label`` names an option (or ``"benchmark"``) as the caller spells it (``--meta``, ``meta``).

    Raises:
        ConfigError: one line, e.g. ``--meta applies to --benchmark ytvos, not davis``.
    """
    if benchmark not in BENCHMARKS:
        raise ConfigError(f"{label('benchmark')} {benchmark!r} unknown; expected {', '.join(BENCHMARKS)}")
    chosen = set(given)
    for option, where in APPLIES_TO.items():
        if option in chosen and benchmark not in where:
            raise ConfigError(f"{label(option)} applies to {label('benchmark')} {' or '.join(where)}, not {benchmark}")


def sequence_scorer(name: str, scored: Sequence[object], starts: Mapping[int, object]) -> SequenceScorer:
    """The J/F scorer of one sequence, the same for a run and for ``vosbench eval``.

    ``scored`` lists the sequence's GT frames in order (frame indices or names); ``starts`` maps
    each object that appears mid-video to the frame (an element of ``scored``) of its first
    appearance: it is scored from the frame after it. Without ``starts`` the objects are those of
    the first GT frame (the DAVIS rule).
    """
    if not starts:
        return SequenceScorer(name)
    position = {frame: i for i, frame in enumerate(scored)}
    first = {int(oid): position[frame] for oid, frame in sorted(starts.items())}
    return SequenceScorer(name, objects=sorted(first), first_frames=first)


def sibling(out_csv: Path, suffix: str) -> Path:
    """``scores.csv`` -> ``scores<suffix>`` (``scores.summary.json``) in the same folder."""
    return out_csv.with_name(out_csv.name.removesuffix(".csv") + suffix)


def write_outputs(ev: Evaluation[object], out_csv: Path, per_frame: bool = False) -> tuple[list[Path], Path | None]:
    """Write the tables to ``out_csv`` and beside it, then ``FILE.summary.json``; with ``per_frame``
    also ``FILE.per_frame.csv``. Returns (tables and summary in order, the per-frame file or None)."""
    written = []
    for suffix, text in ev.tables.items():
        path = out_csv if suffix == ".csv" else sibling(out_csv, suffix)
        atomic_write_text(path, text)
        written.append(path)
    summary = sibling(out_csv, ".summary.json")
    write_eval_summary(summary, ev.metrics, **ev.facts)  # type: ignore[arg-type]  # None and curves are JSON too
    written.append(summary)
    frame_path = None
    if per_frame and ev.scores:
        frame_path = sibling(out_csv, ".per_frame.csv")
        write_per_frame_csv(frame_path, ev.scores)
    return written, frame_path
