"""The Python API of ``vosbench tune``: :func:`tune` (re-exported as ``vosbench.tune``), returning
the choice, every point's tuning score as a DataFrame, and the evaluation run like
``vosbench.run`` returns one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from vosbench.core.errors import ConfigError
from vosbench.core.names import comma_list
from vosbench.records.types import Tuning
from vosbench.runs.context import Progress
from vosbench.runs.api import RunOutput, build_config, check_module_checkpoint, registered, run_output
from vosbench.runs.tune import TuneConfig
from vosbench.runs.tune import tune as run_tune

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class TuneOutput:
    """What :func:`tune` returns.

    Attributes:
        tune_id: The tune's id (its grid folders are ``<tune_id>-tune-p<i>``; give it as
            ``run_id=`` to resume).
        tuning: The ``tuning`` block of the evaluation record (grid or candidates, every point's
            score and interval, rule, choice, where it was tuned); ``None`` while other shards
            still work on the grid.
        points: One row per grid point or candidate, in order: ``index``, one column per swept
            setting (values as text), ``score``, ``low``, ``high`` (fractions), ``run_id``,
            ``best``, ``chosen``.
        evaluation: The chosen settings' run on the evaluation dataset, as ``vosbench.run``
            returns it; ``None`` while other shards still work on the grid or the evaluation.
    """

    tune_id: str
    tuning: Tuning | None
    points: pd.DataFrame
    evaluation: RunOutput | None

    @property
    def choice(self) -> dict[str, str]:
        """The chosen settings (``{}`` before the choice)."""
        return dict(self.tuning["choice"]) if self.tuning else {}

    def __repr__(self) -> str:
        if self.tuning is None or self.evaluation is None:
            return f"TuneOutput({self.tune_id}: waiting for other shards)"
        return f"TuneOutput({self.tune_id}: {self.tuning['rule']} chose {self.choice}; {self.evaluation!r})"


def points_frame(tuning: Tuning) -> pd.DataFrame:
    """``tuning.points`` as a DataFrame (see :attr:`TuneOutput.points`)."""
    import pandas as pd

    keys = list(tuning["grid"])
    rows = [
        {"index": p["index"], **{k: p["point"].get(k) for k in keys}, "score": p["score"], "low": p["low"],
         "high": p["high"], "run_id": p["run_id"], "best": p["index"] == tuning["best"],
         "chosen": p["index"] == tuning["chosen"]}
        for p in tuning["points"]
    ]
    return pd.DataFrame(rows, columns=["index", *keys, "score", "low", "high", "run_id", "best", "chosen"])


def _names(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(comma_list(value))
    names = tuple(value)
    if not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{what}= must be a list of names or a comma-separated string, got {value!r}")
    return names


def tune(
    model: str | nn.Module,
    dataset: str = "synthetic-davis",
    *,
    tune_on: str | None = None,
    sweep: Mapping[str, Any] | None = None,
    candidates: str | Iterable[Mapping[str, Any]] | None = None,
    rule: str = "simplest-within-ci",
    metric: str = "JF_mean",
    tune_sequences: str | Iterable[str] | None = None,
    tune_data_root: str | Path | None = None,
    tune_dataset_options: Mapping[str, Any] | None = None,
    allow_test_tuning: bool = False,
    name: str | None = None,
    progress: Progress | None = None,
    **settings: Any,
) -> TuneOutput:
    """See :func:`vosbench.tune`."""
    if not isinstance(allow_test_tuning, bool):
        raise ConfigError(f"allow_test_tuning= must be True or False, got {allow_test_tuning!r}")
    if tune_dataset_options is not None and not isinstance(tune_dataset_options, Mapping):
        raise ConfigError(f"tune_dataset_options= must be a dict, got {tune_dataset_options!r}")
    check_module_checkpoint(model, settings)
    with registered(model, name) as model_name:
        cfg = build_config(model_name, dataset, {**settings, "sweep": sweep, "candidates": candidates})
        tc = TuneConfig(
            run=cfg,
            tune_on=tune_on,
            tune_data_root=None if tune_data_root is None else str(Path(tune_data_root).expanduser()),
            tune_dataset_options=dict(tune_dataset_options or {}),
            tune_sequences=_names(tune_sequences, "tune_sequences"),
            rule=rule,
            metric=metric,
            allow_test_tuning=allow_test_tuning,
        )
        result = run_tune(tc, progress)
    if result.tuning is None or result.evaluation is None:
        import pandas as pd

        return TuneOutput(result.tune_id, None, pd.DataFrame(), None)
    evaluation = run_output(result.evaluation) if result.evaluation.record.get("status") == "complete" else None
    return TuneOutput(result.tune_id, result.tuning, points_frame(result.tuning), evaluation)


__all__ = ["TuneOutput", "points_frame", "tune"]
