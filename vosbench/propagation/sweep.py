"""Protocol sweeps: one encoder pass per frame, many propagation settings.

``vosbench run ... --sweep topk=5,10,20 --sweep temperature=0.05,0.07`` runs every combination
of the listed values (the grid) as its own run folder with its own record. All grid points are
propagated in lockstep, frame by frame (:func:`vosbench.propagation.engine.propagate_many`): each
frame's features are computed once and used by every grid point while they are in memory (no
feature cache, memory flat with video length), and grid points that differ only in top-k,
temperature or label handling also share the similarity search, so an extra grid point costs
little more than mixing labels, writing and scoring. Only settings that leave the features
unchanged can be swept.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from vosbench.core.errors import ConfigError
from vosbench.core.names import comma_list
from vosbench.propagation.protocol import parse_value

#: Most grid points a sweep may have without ``--large-grid`` (each point is a run folder).
MAX_GRID_POINTS = 1000

#: Settings that act after the encoder (they never change the features).
SWEEPABLE = (
    "topk",
    "temperature",
    "radius",
    "context",
    "window",
    "radius_on_first",
    "pad_with_first",
    "first_in_window",
    "first_frame",
    "feedback",
    "norm_mask",
    "label_downsample",
)
#: Settings that change the encoder's input or output, so a sweep cannot share features.
FEATURE_SETTINGS = ("resize", "size", "l2_normalize", "gt_size", "gt_resize")

Sweep = tuple[tuple[str, tuple[str, ...]], ...]


def parse_sweep(specs: Iterable[str]) -> Sweep:
    """Parse ``KEY=V1,V2,...`` items (several may share one string, separated by spaces).

    Raises:
        ConfigError: unknown, repeated or feature-changing settings, or unparsable values.
    """
    out: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs:
        for item in spec.split():
            key, sep, vals = item.partition("=")
            key = key.strip().replace("-", "_")
            values = tuple(comma_list(vals))
            if not sep or not key or not values:
                raise ConfigError(f"--sweep {item!r}: expected KEY=V1,V2,... (e.g. topk=5,10,20)")
            if key in FEATURE_SETTINGS:
                raise ConfigError(
                    f"--sweep {key}: {key} changes the features, which a sweep computes once and shares; "
                    f"run one `vosbench run --set {key}=...` per value instead. Sweepable: {', '.join(SWEEPABLE)}"
                )
            if key not in SWEEPABLE:
                parse_value(key, values[0])  # unknown setting: the protocol's message lists them
                raise ConfigError(f"--sweep {key}: not sweepable; sweepable settings: {', '.join(SWEEPABLE)}")
            if any(k == key for k, _ in out):
                raise ConfigError(f"--sweep {key} is given twice; list all its values once: {key}=V1,V2")
            for v in values:
                parse_value(key, v)  # fail before any work
            if len(set(values)) != len(values):
                raise ConfigError(f"--sweep {key}: repeated value in {','.join(values)}")
            out.append((key, values))
    return tuple(out)


def grid(sweep: Sweep) -> list[dict[str, str]]:
    """Every combination of the swept values, first setting varying slowest."""
    keys = [k for k, _ in sweep]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in sweep))]


def grid_size(sweep: Sweep) -> int:
    n = 1
    for _, values in sweep:
        n *= len(values)
    return n


def check_grid_size(sweep: Sweep, large_grid: bool = False) -> None:
    """Refuse a grid of more than :data:`MAX_GRID_POINTS` points unless ``large_grid``."""
    n = grid_size(sweep)
    if n > MAX_GRID_POINTS and not large_grid:
        raise ConfigError(
            f"--sweep: {n} grid points (one run folder each); at most {MAX_GRID_POINTS} without --large-grid"
        )
