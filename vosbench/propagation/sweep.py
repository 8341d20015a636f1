"""Protocol sweeps: one encoder pass per frame, many propagation settings.

``vosbench run ... --sweep topk=5,10,20 --sweep temperature=0.05,0.07`` runs every combination
of the listed values (the grid) as its own run folder with its own record. All grid points are
propagated in lockstep, frame by frame (:func:`vosbench.propagation.engine.propagate_many`): each
frame's features are computed once and used by every grid point while they are in memory (no
feature cache, memory flat with video length), and grid points that differ only in top-k,
temperature or label handling also share the similarity search, so an extra grid point costs
little more than mixing labels, writing and scoring. Only settings that leave the features
unchanged can be swept.

Instead of a product, a sweep may run an explicit list of settings (the *candidates* of
``vosbench tune --candidates 'topk=5,radius=12;topk=10,radius=20'``): each candidate is one grid
point, in the order given, and shares features and search with the others exactly as grid points
do. Every candidate sets the same settings.
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
#: an explicit list of grid points: per candidate, its (setting, value) pairs in the order given
Candidates = tuple[tuple[tuple[str, str], ...], ...]


def _check_key(key: str, flag: str, value: str) -> None:
    """Refuse a setting that changes the features or is not sweepable (``flag`` starts the message)."""
    if key in FEATURE_SETTINGS:
        raise ConfigError(
            f"{flag} {key}: {key} changes the features, which a sweep computes once and shares; "
            f"run one `vosbench run --set {key}=...` per value instead. Sweepable: {', '.join(SWEEPABLE)}"
        )
    if key not in SWEEPABLE:
        parse_value(key, value)  # unknown setting: the protocol's message lists them
        raise ConfigError(f"{flag} {key}: not sweepable; sweepable settings: {', '.join(SWEEPABLE)}")


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
            _check_key(key, "--sweep", values[0])
            if any(k == key for k, _ in out):
                raise ConfigError(f"--sweep {key} is given twice; list all its values once: {key}=V1,V2")
            for v in values:
                parse_value(key, v)  # fail before any work
            if len(set(values)) != len(values):
                raise ConfigError(f"--sweep {key}: repeated value in {','.join(values)}")
            out.append((key, values))
    return tuple(out)


def _candidate(text: str, number: int) -> tuple[tuple[str, str], ...]:
    """One candidate ``KEY=V,KEY=V`` (the ``number``-th, counted from 1), checked."""
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip().replace("-", "_"), value.strip()
        if not sep or not key or not value:
            raise ConfigError(f"--candidates: candidate {number} {text.strip()!r}: expected KEY=VALUE,KEY=VALUE "
                              f"(e.g. topk=5,radius=12; candidates separated by ';')")
        _check_key(key, "--candidates", value)
        if any(k == key for k, _ in pairs):
            raise ConfigError(f"--candidates: candidate {number} sets {key} twice")
        parse_value(key, value)  # fail before any work
        pairs.append((key, value))
    return tuple(pairs)


def parse_candidates(specs: Iterable[str]) -> Candidates:
    """Parse candidates ``KEY=V,KEY=V;KEY=V,KEY=V`` (``;`` between candidates; several strings
    are joined in order). Every candidate must set the same settings.

    Raises:
        ConfigError: an empty list, a malformed, repeated or feature-changing candidate, or
            candidates that set different settings.
    """
    texts = [t for spec in specs for t in spec.split(";") if t.strip()]
    if not texts:
        raise ConfigError("--candidates: the list is empty; give KEY=VALUE,...;KEY=VALUE,... (e.g. 'topk=5;topk=10')")
    out: list[tuple[tuple[str, str], ...]] = []
    seen: dict[tuple[tuple[str, object], ...], int] = {}
    for number, text in enumerate(texts, 1):
        cand = _candidate(text, number)
        keys = sorted(k for k, _ in cand)
        if out and keys != sorted(k for k, _ in out[0]):
            raise ConfigError(
                f"--candidates: candidate {number} sets {', '.join(keys)} but candidate 1 sets "
                f"{', '.join(sorted(k for k, _ in out[0]))}; every candidate sets the same settings"
            )
        value = tuple(sorted((k, parse_value(k, v)) for k, v in cand))
        if value in seen:
            raise ConfigError(f"--candidates: candidate {number} repeats candidate {seen[value]} ({text.strip()})")
        seen[value] = number
        out.append(cand)
    return tuple(out)


def grid(sweep: Sweep) -> list[dict[str, str]]:
    """Every combination of the swept values, first setting varying slowest."""
    keys = [k for k, _ in sweep]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in sweep))]


def sweep_points(sweep: Sweep, candidates: Candidates = ()) -> list[dict[str, str]]:
    """The points a sweep runs: the candidates in the order given, or the grid of ``sweep``."""
    return [dict(c) for c in candidates] if candidates else grid(sweep)


def swept_values(sweep: Sweep, candidates: Candidates = ()) -> dict[str, list[str]]:
    """Each swept setting's values, in grid order (for candidates: in order of first use)."""
    if not candidates:
        return {k: list(v) for k, v in sweep}
    out: dict[str, list[str]] = {}
    for cand in candidates:
        for k, v in cand:
            if v not in out.setdefault(k, []):
                out[k].append(v)
    return out


def check_overrides(overrides: Iterable[str], sweep: Sweep, candidates: Candidates = ()) -> None:
    """Refuse a setting given both as an override and as a swept setting."""
    both = sorted(set(overrides) & set(swept_values(sweep, candidates)))
    if both:
        flag = "--candidates" if candidates else "--sweep"
        raise ConfigError(f"{', '.join(both)}: given both as an override and in {flag}; keep one")


def grid_size(sweep: Sweep) -> int:
    n = 1
    for _, values in sweep:
        n *= len(values)
    return n


def check_grid_size(sweep: Sweep, large_grid: bool = False, candidates: Candidates = ()) -> None:
    """Refuse a grid (or a list of candidates) of more than :data:`MAX_GRID_POINTS` points
    unless ``large_grid``, and a sweep given both as a grid and as candidates."""
    if sweep and candidates:
        raise ConfigError("--sweep and --candidates: give either a grid or a list of candidates, not both")
    n = len(candidates) if candidates else grid_size(sweep)
    if n > MAX_GRID_POINTS and not large_grid:
        flag = "--candidates" if candidates else "--sweep"
        raise ConfigError(f"{flag}: {n} grid points (one run folder each); at most {MAX_GRID_POINTS} without --large-grid")
