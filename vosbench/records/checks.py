"""Checks of what a run folder holds, each failing with one line that names the file.

A run folder is written by ``vosbench run``, but anyone can edit it afterwards; everything read
from it is checked before it is shown or compared: numbers finite and in their range (metric
values are fractions in [0, 1], decays differences of fractions in [-1, 1]), rows not
duplicated, sequence names single safe path components, and an interval that contains its point.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable

from vosbench.core.errors import InputFileError
from vosbench.core.safepath import name_problem

#: slack for values computed in floating point (a mean of fractions may round past a bound)
EPS = 1e-9
FRACTION = (0.0, 1.0)
#: J_decay, F_decay: the mean over the first quarter of frames minus the mean over the last
DIFFERENCE = (-1.0, 1.0)


def bounds(key: str) -> tuple[float, float]:
    """The range of metric ``key`` in files (fractions; decays are differences of two)."""
    return DIFFERENCE if key.endswith("_decay") else FRACTION


def range_problem(key: str, value: float) -> str | None:
    """Why ``value`` is not a valid value of metric ``key`` (NaN, "not scored", is valid)."""
    if math.isnan(value):
        return None
    low, high = bounds(key)
    if math.isinf(value):
        return f"{key} is {value!r}; expected a finite number"
    if not low - EPS <= value <= high + EPS:
        return f"{key} is {value!r}, outside [{low:g}, {high:g}]; expected a fraction (1.0 = 100 %)"
    return None


def check_value(path: str | os.PathLike[str], where: str, key: str, value: float) -> float:
    """``value`` when it is a valid value of metric ``key`` (or NaN), else raise naming ``path``."""
    problem = range_problem(key, value)
    if problem is not None:
        raise InputFileError(f"{path}: {where}{problem}")
    return value


def check_sequence(path: str | os.PathLike[str], where: str, name: object, what: str = "sequence") -> str:
    """``name`` when it is one safe path component (it names folders and files of the run)."""
    problem = name_problem(name)
    if problem is not None:
        raise InputFileError(f"{path}: {where}{what} {name!r} is not a single safe folder/file name ({problem})")
    assert isinstance(name, str)
    return name


class Unique:
    """Refuses a key seen before in the same file (``sequence/object`` twice in a table)."""

    def __init__(self, path: str | os.PathLike[str], what: str):
        self.path = path
        self.what = what
        self.seen: set[Hashable] = set()

    def add(self, where: str, key: Hashable, shown: str) -> None:
        if key in self.seen:
            raise InputFileError(f"{self.path}: {where}{self.what} {shown} appears twice; expected each once")
        self.seen.add(key)


def check_interval(path: str | os.PathLike[str], key: str, point: float, low: object, high: object) -> None:
    """An interval of metric ``key`` must be two numbers in its range, ``low <= point <= high``
    (a NaN ``point``, none to compare with, is not checked)."""
    lo, hi = finite_number(low), finite_number(high)
    if lo is None or hi is None:
        raise InputFileError(f"{path}: interval of {key} is [{low!r}, {high!r}]; expected two finite numbers")
    for value in (lo, hi):
        check_value(path, "interval bound ", key, value)
    if lo > hi:
        raise InputFileError(f"{path}: interval of {key} [{lo!r}, {hi!r}] has its low bound above its high bound")
    if math.isnan(point):
        return
    slack = EPS * max(1.0, abs(point))
    if not lo - slack <= point <= hi + slack:
        raise InputFileError(
            f"{path}: interval of {key} [{lo!r}, {hi!r}] does not contain its point {point!r}; expected the "
            "interval and the point from the same run (re-run, or delete this run folder)"
        )


def json_number(value: object) -> float | None:
    """A JSON number as a float (an integer too large for one: infinity), else ``None``
    (``true``/``false`` are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def finite_number(value: object) -> float | None:
    """A finite JSON number as a float, else ``None``."""
    number = json_number(value)
    return number if number is not None and math.isfinite(number) else None
