"""``vosbench tune``: choose protocol settings on a tuning split, then run the choice on the
evaluation split.

1. The grid (``--sweep``), or the list of settings (``--candidates``, one grid point per
   candidate, in the order given), runs on the tuning split as an ordinary sweep
   (:func:`~vosbench.runs.run_sweep`: features computed once per sequence and shared, the
   similarity search shared where the settings allow, one run folder and record per point, in
   ``<out>/<tuning dataset>/<model>/<id>-tune-p<i>``).
2. Each point's score is its record's metric with the cluster-bootstrap interval the record
   carries; a rule (:mod:`vosbench.records.tuning`) picks one point.
3. The chosen settings run on the evaluation split as one run, ``<out>/<dataset>/<model>/<id>``,
   whose record keeps the whole choice (``tuning``: grid, every point's score and interval, rule,
   choice, where it was tuned).

The tuning split must be one the dataset catalog marks as a train split (``split_role``);
a val or test split, or one whose role a ``--tune-dataset-option`` changes, is refused unless
``allow_test_tuning``, which the record keeps and the leaderboard shows.

Both stages are runs of the one run loop, so they shard and resume like any run: give the same
``run_id`` again to resume an interrupted tune (committed sequences are kept). Sharded with
``--shard I/N`` (or a SLURM array), a shard that finishes its part of the grid while others
still work stops there; run the same command again once every shard is done, and the shards
then share the evaluation run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vosbench.core.errors import ConfigError
from vosbench.core.registry import datasets
from vosbench.core.specs import DatasetSpec
from vosbench.propagation.sweep import check_grid_size, check_overrides, sweep_points, swept_values
from vosbench.records.schema import METRICS
from vosbench.records.tuning import RULES, SIMPLICITY, SIMPLICITY_LIST, TUNING_ROLES, choose, tuning_allowed
from vosbench.records.types import RunSummary, Tuning, TuningPoint
from vosbench.runs import run_sweep
from vosbench.runs.config import RunConfig, config_to_dict
from vosbench.runs.context import Progress
from vosbench.runs.lifecycle import RunResult
from vosbench.runs.record import new_run_id
from vosbench.runs.shards import derived_run_id, resolve_shard, resolved_root

log = logging.getLogger("vosbench.runs")


@dataclass(frozen=True)
class TuneConfig:
    """A tune: the evaluation run (``run``, whose ``sweep`` is the grid, or whose ``candidates``
    are the list of settings) and where and how to choose.

    Attributes:
        run: The evaluation run; ``run.sweep`` is the grid tried on the tuning split, or
            ``run.candidates`` the list of settings tried (simplest first).
        tune_on: Tuning dataset (default: ``run.dataset``).
        tune_data_root: Its data root (default: as ``vosbench run`` finds it).
        tune_dataset_options: Its dataset options.
        tune_sequences: A subset of its sequences (default: all).
        rule: ``best`` or ``simplest-within-ci`` (:mod:`vosbench.records.tuning`).
        metric: The score compared (a key of the tuning records' ``metrics``).
        allow_test_tuning: Allow a tuning split that is not a train split (recorded).
    """

    run: RunConfig
    tune_on: str | None = None
    tune_data_root: str | None = None
    tune_dataset_options: dict[str, Any] = field(default_factory=dict)
    tune_sequences: tuple[str, ...] = ()
    rule: str = "simplest-within-ci"
    metric: str = "JF_mean"
    allow_test_tuning: bool = False

    @property
    def tuning_dataset(self) -> str:
        return self.tune_on or self.run.dataset


@dataclass
class TuneResult:
    """What :func:`tune` did: the tune's id, the grid's runs on the tuning split, and (once the
    whole grid is in) the choice and the evaluation run."""

    tune_id: str
    points: list[RunResult]
    tuning: Tuning | None = None
    evaluation: RunResult | None = None


def split_role(spec: DatasetSpec, options: Mapping[str, Any]) -> str | None:
    """The catalog's ``split_role`` of ``spec``, or ``None`` (undeclared) when ``options`` change
    one of the options the catalog fixes for it (its split, subset, year, generator seed ...)."""
    for key, value in options.items():
        if key in spec.options and str(value).lower() != str(spec.options[key]).lower():
            return None
    return spec.split_role


def check_tune(tc: TuneConfig) -> str | None:
    """Refuse a tune before any work: no grid (or both a grid and candidates), an unknown rule, a metric that is not a score, a
    tuning split that is not a train split (without ``allow_test_tuning``), or tuning sequences
    that may be evaluation sequences of the same dataset. Returns the tuning split's role."""
    if not tc.run.sweep and not tc.run.candidates:
        raise ConfigError("vosbench tune needs a grid to choose from: --sweep KEY=V1,V2,... (e.g. --sweep topk=5,10,20) "
                          "or --candidates 'KEY=V,KEY=V;KEY=V,KEY=V'")
    check_grid_size(tc.run.sweep, True, tc.run.candidates)
    check_overrides(tc.run.overrides, tc.run.sweep, tc.run.candidates)
    if tc.rule not in RULES:
        raise ConfigError(f"--rule {tc.rule!r}: choose {', '.join(RULES)}")
    scores = [m.key for m in METRICS if m.higher_is_better]
    if tc.metric not in scores:
        raise ConfigError(f"--metric {tc.metric!r}: choose a score where higher is better: {', '.join(scores)}")
    role = split_role(datasets.get(tc.tuning_dataset), tc.tune_dataset_options)
    tuning_allowed(role, tc.allow_test_tuning, tc.tuning_dataset)
    if role not in TUNING_ROLES:
        log.warning("tuning on %s, a %s split (--allow-test-tuning): the choice is recorded and shown as made on "
                    "evaluation data", tc.tuning_dataset, role or "undeclared")
    same_data = tc.tuning_dataset == tc.run.dataset and resolved_root(tc.tune_data_root) == resolved_root(tc.run.data_root)
    disjoint = bool(tc.tune_sequences and tc.run.sequences) and not set(tc.tune_sequences) & set(tc.run.sequences)
    if same_data and not disjoint and not tc.allow_test_tuning:
        raise ConfigError(
            f"--tune-on {tc.tuning_dataset} is also the evaluation dataset: name disjoint --tune-sequences and "
            f"--sequences, or tune on another split"
        )
    return role


def tune_id(tc: TuneConfig) -> str:
    """The tune's id: ``run.run_id``; sharded without one, derived from the settings (every shard
    computes the same); else a new time-stamped id."""
    if tc.run.run_id is not None:
        return tc.run.run_id
    shard = resolve_shard(tc.run.shard)
    if shard.sharded:
        settings = {
            **config_to_dict(tc.run), "data_root": resolved_root(tc.run.data_root),
            **{k: v for k, v in dataclasses.asdict(tc).items() if k != "run"},
            "tune_data_root": resolved_root(tc.tune_data_root),
        }
        return derived_run_id(settings, shard)
    return new_run_id()


def tuning_points(results: list[RunResult], metric: str) -> list[TuningPoint]:
    """Each grid point's score on the tuning split: the metric of its record and the interval
    in its ``ci`` block (``None`` where the record has none)."""
    points: list[TuningPoint] = []
    for i, res in enumerate(results):
        rec = res.record
        metrics: Mapping[str, Any] = rec.get("metrics", {})
        if metric not in metrics:
            have = ", ".join(k for k, v in metrics.items() if isinstance(v, (int, float)))
            raise ConfigError(f"--metric {metric}: the tuning runs do not give it; they give {have}")
        ci = rec.get("ci", {}).get("metrics", {}).get(metric)
        score = metrics[metric]
        points.append({
            "index": i,
            "point": dict(rec["sweep"]["point"]),
            "run_id": rec["run_id"],
            "score": score,
            "low": ci["low"] if ci else None,
            "high": ci["high"] if ci else None,
        })
    return points


def tuning_block(tc: TuneConfig, tid: str, role: str | None, results: list[RunResult]) -> Tuning:
    """The ``tuning`` block of the evaluation record, from the grid's finished records."""
    points = tuning_points(results, tc.metric)
    best, chosen = choose(points, tc.rule)
    first: RunSummary = results[0].record
    ds = first["dataset"]
    block: Tuning = {
        "id": tid,
        "metric": tc.metric,
        "rule": tc.rule,
        "simplicity": SIMPLICITY_LIST if tc.run.candidates else SIMPLICITY,
        "tuned_on": {
            "dataset": ds["name"],
            "split_role": role,
            "sequences": list(ds.get("sequences", [])),
            "root": str(ds.get("root", "")),
        },
        "grid": swept_values(tc.run.sweep, tc.run.candidates),
        "points": points,
        "best": best,
        "chosen": chosen,
        "choice": dict(points[chosen]["point"]),
        "allow_test_tuning": tc.allow_test_tuning,
        "ci_level": float(first.get("ci", {}).get("level", 0.95)),
    }
    if tc.run.candidates:
        block["candidates"] = [dict(c) for c in tc.run.candidates]
    return block


def tune(tc: TuneConfig, progress: Progress | None = None) -> TuneResult:
    """Run the grid on the tuning split, choose, run the choice on the evaluation split.

    Returns without a choice while other shards still work on the grid (see the module docstring).

    Raises:
        ConfigError: no grid, an unknown rule or metric, a refused tuning split.
    """
    role = check_tune(tc)
    tid = tune_id(tc)
    log.info("tune %s: grid of %d point(s) on %s (resume with --run-id %s)", tid,
             len(sweep_points(tc.run.sweep, tc.run.candidates)), tc.tuning_dataset, tid)
    tune_cfg = dataclasses.replace(
        tc.run,
        dataset=tc.tuning_dataset,
        data_root=tc.tune_data_root,
        dataset_options=dict(tc.tune_dataset_options),
        sequences=tuple(tc.tune_sequences),
        run_id=f"{tid}-tune",
    )
    results = run_sweep(tune_cfg, progress)
    if any(r.record.get("status") != "complete" for r in results):
        return TuneResult(tid, results)  # another shard is still on the grid
    block = tuning_block(tc, tid, role, results)
    log.info("tune %s: %s chose %s", tid, tc.rule, block["choice"])
    eval_cfg = dataclasses.replace(tc.run, sweep=(), candidates=(), overrides={**tc.run.overrides, **block["choice"]}, run_id=tid)
    evaluation = run_sweep(eval_cfg, progress, tuning=block)[0]
    return TuneResult(tid, results, block, evaluation)
