"""Protocol sweeps: one encoder pass per sequence, many propagation settings.

``vosbench run ... --sweep topk=5,10,20 --sweep temperature=0.05,0.07`` runs every combination
of the listed values (the grid) as its own run folder with its own record. The features of a
sequence are computed once, for the first grid point, kept in a :class:`FeatureCache` (in
memory, or in a temporary file when large) and replayed for the other grid points, so each
extra grid point costs only propagation and scoring. Only settings that leave the features
unchanged can be swept.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vosbench.harness.errors import ConfigError
from vosbench.harness.protocol import parse_value

#: Settings that act after the encoder (they never change the features).
SWEEPABLE = (
    "topk",
    "temperature",
    "radius",
    "context",
    "window",
    "radius_on_first",
    "pad_with_first",
    "first_frame",
    "feedback",
    "norm_mask",
    "label_downsample",
)
#: Settings that change the encoder's input or output, so a sweep cannot share features.
FEATURE_SETTINGS = ("resize", "size", "l2_normalize")

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
            values = tuple(v.strip() for v in vals.split(",") if v.strip())
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


class FeatureCache:
    """The features of one sequence, recorded while they are computed and replayed afterwards.

    Kept on the features' device while the total stays under ``max_memory_mb``; beyond that,
    frames go to a temporary file on disk (memory-mapped) and are moved back to the device one
    at a time when replayed. Call :meth:`close` (or use as a context manager) to free it.
    """

    def __init__(self, max_memory_mb: float = 2048.0, tmp_dir: str | os.PathLike[str] | None = None):
        self.max_bytes = int(max_memory_mb * 2**20)
        self.tmp_dir = tmp_dir
        self.frames: list[tuple[int, Any]] = []
        self.nbytes = 0
        self._dir: str | None = None
        self._file: Any = None
        self._spilled: list[tuple[int, int, tuple[int, ...], Any, Any]] = []  # (t, offset, shape, dtype, device)

    def record(self, source: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """Pass ``(t, feats)`` through while keeping a copy."""
        for t, f in source:
            self._keep(t, f)
            yield t, f

    def _keep(self, t: int, f: Any) -> None:
        size = f.numel() * f.element_size()
        if self._file is None and self.nbytes + size <= self.max_bytes:
            self.frames.append((t, f))
            self.nbytes += size
            return
        if self._file is None:
            self._dir = tempfile.mkdtemp(prefix="vosbench-features-", dir=self.tmp_dir)
            self._file = open(Path(self._dir) / "features.bin", "w+b")  # noqa: SIM115 (closed in close())
        import torch

        raw = f.detach().contiguous().view(torch.uint8).reshape(-1).cpu().numpy()  # bit-exact, any dtype
        offset = self._file.seek(0, os.SEEK_END)
        self._file.write(raw.tobytes())
        self._spilled.append((t, offset, tuple(f.shape), f.dtype, f.device))

    def replay(self) -> Iterator[tuple[int, Any]]:
        """``(t, feats)`` in the recorded order, on the device they were computed on."""
        import numpy as np
        import torch

        yield from self.frames
        if self._file is None:
            return
        self._file.flush()
        for t, offset, shape, dtype, device in self._spilled:
            n = int(np.prod(shape)) * torch.empty((), dtype=dtype).element_size()
            buf = np.fromfile(self._file.name, dtype=np.uint8, count=n, offset=offset)
            yield t, torch.from_numpy(buf).view(dtype).reshape(shape).to(device)

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        self.frames = []
        self.nbytes = 0
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._spilled = []

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def print_sweep_table(results: list[Any]) -> None:
    """Compare the grid points of a finished sweep (one row each, best J&F in bold)."""
    from rich.console import Console
    from rich.table import Table

    from vosbench.harness.report_table import pct

    console = Console()
    if not console.is_terminal:
        console = Console(width=130)
    if not results:
        return
    keys = list(results[0].record["sweep"]["point"])
    first = results[0].record
    table = Table(title=f"sweep: {first['model']['name']} on {first['dataset']['name']} ({first['protocol']['name']})")
    for k in keys:
        table.add_column(k, justify="right")
    for col in ("J&F", "J-Mean", "F-Mean", "time (s)", "run folder"):
        table.add_column(col, justify="right" if col != "run folder" else "left")
    best = max((r.record["metrics"].get("JF_mean", float("-inf")) for r in results), default=None)
    for r in results:
        m = r.record["metrics"]
        jf = pct(m.get("JF_mean"))
        if m.get("JF_mean") == best and len(results) > 1:
            jf = f"[bold]{jf}"
        table.add_row(
            *(str(r.record["sweep"]["point"][k]) for k in keys),
            jf,
            pct(m.get("J_mean")),
            pct(m.get("F_mean")),
            f"{r.record['timings'].get('total_s', 0):.1f}",
            r.run_dir.name,
        )
    console.print(table)
    console.print(
        "the first grid point's time includes computing the features; the others reuse them "
        f"(run folders under {results[0].run_dir.parent})"
    )
