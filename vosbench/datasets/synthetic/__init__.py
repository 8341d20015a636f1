"""Synthetic benchmark data in the exact layouts of DAVIS-2017, YouTube-VOS and JHMDB.

Seeded and deterministic: the same arguments give byte-identical files. Textured shapes move
with smooth similarity motion (translation, rotation, scale), deform slightly, occlude each other
and enter or leave the frame, with exact label maps; for JHMDB a textured stick figure with the
15 JHMDB joints walks, waves or squats. The real dataset loaders read these folders through the
same code paths as the real datasets.

Public API:

* :func:`generate_davis`, :func:`generate_ytvos`, :func:`generate_jhmdb`, :func:`generate_badja`: write a set into a
  folder (see their docstrings for every file written);
* :func:`ensure_generated`: generate into a folder on first use, regenerate when the recipe
  changes (used by the registered ``synthetic-*`` datasets);
* :func:`build_synthetic_davis`: factory of the ``synthetic-davis`` dataset;
* :class:`~vosbench.datasets.synthetic.scene.Scene` (via the ``*_scene`` builders in
  :mod:`~vosbench.datasets.synthetic.scenarios`): render any frame with per-pixel ground-truth
  correspondences (``scene.render(t, coords=True)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosbench.datasets.synthetic.cache import ensure_generated, read_stamp
from vosbench.datasets.synthetic.layouts import (
    DEFAULTS,
    GENERATOR_VERSION,
    KINDS,
    STAMP,
    generate_badja,
    generate_davis,
    generate_jhmdb,
    generate_ytvos,
)
from vosbench.core.specs import DatasetSpec

__all__ = [
    "DEFAULTS",
    "GENERATOR_VERSION",
    "KINDS",
    "STAMP",
    "build_synthetic_davis",
    "generate_badja",
    "ensure_generated",
    "generate_davis",
    "generate_jhmdb",
    "generate_ytvos",
    "generator_params",
    "read_stamp",
]

_PARAM_NAMES = ("videos", "frames", "size", "seed", "all_frames")


def generator_params(kind: str, spec: DatasetSpec, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Split generator arguments out of a dataset's ``options`` (removing them) and decide which
    recipe ``root`` must hold.

    Explicit arguments win. Otherwise the cache folder (``<cache>/synthetic/<name>``) always holds
    the current defaults, while a folder given with ``--data-root`` that already holds a set of
    this kind and generator version (e.g. written by ``vosbench data synth``) is used as it is.
    """
    from vosbench.core.paths import cache_dir

    params = {k: options.pop(k) for k in _PARAM_NAMES if k in options}
    if params:
        return params
    stamp = read_stamp(root)
    in_cache = Path(root).expanduser().resolve() == (cache_dir() / "synthetic" / spec.name).resolve()
    if not in_cache and stamp and stamp.get("kind") == kind and stamp.get("version") == GENERATOR_VERSION:
        return dict(stamp.get("params") or {})
    return {}


def build_synthetic_davis(spec: DatasetSpec, root: Path, **options: Any):
    """Factory of ``synthetic-davis``: generate (once) into ``root``, open it with the DAVIS-2017
    loader used for the real dataset."""
    from vosbench.datasets.davis import Davis17Dataset

    params = generator_params("davis", spec, root, options)
    if options.get("split") == "train":  # a generated train split (synthetic-davis-train) lists its videos there
        params["split"] = "train"
    ensure_generated("davis", root, **params)
    return Davis17Dataset(spec, Path(root), **options)
