"""Choosing protocol settings on a tuning split: the selection rules, and the checks of a
record's ``tuning`` block (:class:`~vosbench.records.types.Tuning`).

Pure functions over the scores of the grid points (fractions, each with the cluster-bootstrap
interval its tuning run recorded, :mod:`vosbench.records.stats`); ``vosbench tune``
(:mod:`vosbench.runs.tune`) runs the grid and the chosen setting.

The rules:

- ``best``: the point with the highest mean score (ties: the simplest of them);
- ``simplest-within-ci``: the simplest point whose mean lies inside the confidence interval of
  the best point (``score >= low`` of the best; no point lies above the best), so a setting is
  only preferred for its score when the data can tell it apart from simpler ones.

"Simplest" is the grid order (:data:`SIMPLICITY`): points are ranked the way the grid lists them
(``vosbench.propagation.sweep.grid``: the first swept setting varies slowest, each setting's
values in the order given), and the lower index is the simpler. List each setting's values
simplest first (e.g. ``topk=5,10,20``, ``context=1,5,20``). For a list of candidates
(``--candidates``) it is the list order (:data:`SIMPLICITY_LIST`): list the simplest first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from vosbench.core.errors import ConfigError
from vosbench.records.types import Tuning, TuningPoint

RULES = ("best", "simplest-within-ci")
#: what "simplest" means, recorded with every choice
SIMPLICITY = (
    "grid order: the first swept setting varies slowest and each setting's values count in the order given "
    "(first = simplest); the lower point index is the simpler"
)
#: what "simplest" means for a list of candidates
SIMPLICITY_LIST = "list order: the candidates count in the order given (first = simplest); the lower point index is the simpler"
#: the split roles (catalog ``split_role``) that may be tuned on without --allow-test-tuning
TUNING_ROLES = ("train",)


def _scored(points: Sequence[TuningPoint]) -> list[TuningPoint]:
    return [p for p in points if p["score"] is not None and math.isfinite(p["score"])]


def best_index(points: Sequence[TuningPoint]) -> int:
    """Index (into ``points``) of the highest mean score; ties go to the simplest point.

    Raises:
        ConfigError: no point has a score.
    """
    scored = _scored(points)
    if not scored:
        raise ConfigError("tuning: no grid point has a score on the tuning split; nothing to choose from")
    top = max(p["score"] for p in scored)  # type: ignore[type-var]  # _scored keeps numbers only
    return min(i for i, p in enumerate(points) if p in scored and p["score"] == top)


def choose(points: Sequence[TuningPoint], rule: str) -> tuple[int, int]:
    """``(best, chosen)`` indices into ``points`` under ``rule`` (module docstring).

    Raises:
        ConfigError: an unknown rule; no scores; ``simplest-within-ci`` without an interval for
            the best point (fewer than two tuning sequences).
    """
    if rule not in RULES:
        raise ConfigError(f"unknown selection rule {rule!r}; choose {', '.join(RULES)}")
    best = best_index(points)
    if rule == "best":
        return best, best
    low = points[best]["low"]
    if low is None or not math.isfinite(low):
        raise ConfigError(
            "tuning: simplest-within-ci needs the best point's confidence interval, which its run does not have "
            "(it takes at least two tuning sequences); tune on more sequences or use --rule best"
        )
    within = [i for i, p in enumerate(points) if p in _scored(points) and p["score"] >= low]  # type: ignore[operator]
    return best, min(within)


def tuned_label(tuning: Mapping[str, object]) -> str:
    """What a leaderboard says about a tuned run: where and how its settings were chosen, e.g.
    ``synthetic-davis-train (2 seq.), simplest-within-ci on JF_mean over 4 points``; chosen on
    evaluation data, it starts with ``TUNED ON EVALUATION DATA``."""
    on = tuning.get("tuned_on")
    on = on if isinstance(on, dict) else {}
    seqs = on.get("sequences")
    n = len(seqs) if isinstance(seqs, list) else 0
    points = tuning.get("points")
    text = (
        f"{on.get('dataset', '?')} ({n} seq.), {tuning.get('rule', '?')} on {tuning.get('metric', '?')} "
        f"over {len(points) if isinstance(points, list) else '?'} points"
    )
    if tuning.get("allow_test_tuning"):
        role = on.get("split_role") or "undeclared"
        text = f"TUNED ON EVALUATION DATA ({role} split, --allow-test-tuning): " + text
    return text


def _number(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _check_point(i: int, p: object, fail: Callable[[str], Exception]) -> None:
    if not isinstance(p, dict):
        raise fail(f"tuning.points[{i}] is not an object")
    point = p.get("point")
    if p.get("index") != i or not isinstance(p.get("run_id"), str) or not isinstance(point, dict):
        raise fail(f"tuning.points[{i}] lacks its index {i}, 'run_id' or 'point'")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in point.items()):
        raise fail(f"tuning.points[{i}].point is not a table of setting -> value text")
    values = [p.get(k) for k in ("score", "low", "high")]
    if not all(_number(v) for v in values):
        raise fail(f"tuning.points[{i}]: score, low and high must be numbers or null")
    if any(v is not None and math.isfinite(v) and not 0.0 <= v <= 1.0 for v in values):
        raise fail(f"tuning.points[{i}]: score, low and high are fractions in [0, 1]")


def check_tuning(block: object, fail: Callable[[str], Exception]) -> Tuning:
    """``block`` as a :class:`Tuning`, checked: its rule, every point (index, settings, run id,
    scores in [0, 1]), valid ``best``/``chosen`` indices and a ``choice`` equal to the chosen
    point's settings. ``fail(what)`` makes the exception to raise."""
    if not isinstance(block, dict):
        raise fail("'tuning' is not an object")
    for key, kind in (("id", str), ("metric", str), ("rule", str), ("simplicity", str), ("tuned_on", dict),
                      ("grid", dict), ("points", list), ("choice", dict), ("allow_test_tuning", bool)):
        if not isinstance(block.get(key), kind):
            raise fail(f"tuning.{key} is missing or not a {kind.__name__}")
    if block["rule"] not in RULES:
        raise fail(f"tuning.rule {block['rule']!r} is none of {', '.join(RULES)}")
    points = block["points"]
    for i, p in enumerate(points):
        _check_point(i, p, fail)
    for key in ("best", "chosen"):
        index = block.get(key)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(points):
            raise fail(f"tuning.{key} is not an index of tuning.points")
    if block["choice"] != points[block["chosen"]]["point"]:
        raise fail("tuning.choice differs from the settings of tuning.points[tuning.chosen]")
    if "candidates" in block and block["candidates"] != [p["point"] for p in points]:
        raise fail("tuning.candidates is not the list of the settings of tuning.points, in order")
    on = block["tuned_on"]
    if not isinstance(on.get("dataset"), str) or not isinstance(on.get("sequences"), list):
        raise fail("tuning.tuned_on lacks 'dataset' or 'sequences'")
    return block  # type: ignore[return-value]  # checked above


def tuning_allowed(split_role: str | None, allow_test_tuning: bool, dataset: str) -> None:
    """Refuse to tune on ``dataset`` unless its catalog ``split_role`` is a tuning role
    (:data:`TUNING_ROLES`) or ``allow_test_tuning``."""
    if split_role in TUNING_ROLES or allow_test_tuning:
        return
    what = f"a {split_role} split" if split_role else "a split whose role the catalog does not declare"
    raise ConfigError(
        f"--tune-on {dataset}: {what}; choosing settings on evaluation data inflates its scores. Tune on a train "
        f"split (e.g. davis17-train, synthetic-davis-train), or pass --allow-test-tuning (recorded and shown)"
    )
