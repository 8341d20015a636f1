"""Terminal tables printed at the end of ``vosbench run`` (percent with one decimal, as papers do)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vosbench.runs.lifecycle import RunResult


def fmt_size(n: float) -> str:
    """A byte count for people: ``532 B``, ``1.5 KB``, ``44.6 MB`` (decimal units)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100.0 * x:.1f}"


def print_run_summary(record: Mapping[str, Any], scores: list[Any], run_dir: Path) -> None:
    """Per-sequence and overall scores of a finished run, then where its files are."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # pipes and CI logs: wide enough for the full table
        console = Console(width=130)
    m = record.get("metrics", {})
    title = f"{record['model']['name']} on {record['dataset']['name']} ({record['protocol']['name']} v{record['protocol']['version']})"
    if record.get("task") == "pose":
        table = Table(title=title)
        for col in ("", "PCK@0.1", "PCK@0.2", "pooled@0.1", "pooled@0.2"):
            table.add_column(col, justify="right")
        table.add_row(
            "all", pct(m.get("PCK@0.1")), pct(m.get("PCK@0.2")), pct(m.get("PCK_pooled@0.1")), pct(m.get("PCK_pooled@0.2"))
        )
        console.print(table)
    elif scores:
        table = Table(title=title)
        table.add_column("sequence")
        table.add_column("objects", justify="right")
        for col in ("J&F", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"):
            table.add_column(col, justify="right")
        by_seq: dict[str, list[Any]] = defaultdict(list)
        for s in scores:
            by_seq[s.sequence].append(s)
        for seq, objs in by_seq.items():
            n = len(objs)

            def avg(attr: str, objs: list[Any] = objs, n: int = n) -> float:
                return sum(getattr(o, attr) for o in objs) / n

            jf = (avg("J_mean") + avg("F_mean")) / 2
            table.add_row(
                seq, str(n), pct(jf), *(pct(avg(a)) for a in ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay"))
            )
        table.add_section()
        # J&F pooled over all objects; for YouTube-VOS the headline is the seen/unseen mean below,
        # so this row is not called "overall" (one number only carries that name)
        table.add_row(
            "[bold]all objects",
            str(len(scores)),
            *(f"[bold]{pct(m.get(k))}" for k in ("JF_mean", "J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")),
        )
        console.print(table)
        if "overall" in m:
            console.print(
                f"YouTube-VOS overall (mean of the four) {pct(m.get('overall'))}  J seen {pct(m.get('J_seen'))}"
                f"  F seen {pct(m.get('F_seen'))}  J unseen {pct(m.get('J_unseen'))}  F unseen {pct(m.get('F_unseen'))}"
            )
    else:
        console.print(f"{title}: no ground truth to score against; predictions only.")
    t = record.get("timings", {})
    console.print(
        f"{t.get('frames', 0)} frames in {t.get('total_s', 0):.1f} s ({t.get('frames_per_s') or 0:.1f} frames/s; "
        f"features {t.get('features_s', 0):.1f} s, propagation {t.get('propagation_s', 0):.1f} s, "
        f"peak memory {t.get('peak_memory_mb', 0):.0f} MB) on {record['environment']['device']}"
    )
    if record.get("submission_zip"):
        console.print(f"submission zip: {record['submission_zip']}")
    console.print(f"run folder: {run_dir}")


def print_sweep_table(results: list[RunResult]) -> None:
    """Compare the grid points of a finished sweep (one row each, best J&F in bold)."""
    from rich.console import Console
    from rich.table import Table

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
        "times: the first grid point carries the encoder and each shared similarity search; the "
        f"others reuse them (run folders under {results[0].run_dir.parent})"
    )


def print_tuning_table(tuning: Mapping[str, Any]) -> None:
    """The grid's scores on the tuning split (with their intervals), the best and the chosen point."""
    from rich.console import Console
    from rich.table import Table

    from vosbench.records.tuning import tuned_label

    console = Console()
    if not console.is_terminal:
        console = Console(width=130)
    keys = list(tuning["grid"])
    level = round(100 * float(tuning.get("ci_level", 0.95)))
    table = Table(title=f"tune {tuning['id']}: {tuned_label(tuning)}")
    for k in keys:
        table.add_column(k, justify="right")
    for col in (f"{tuning['metric']} (%)", f"{level}% CI", "", "tuning run"):
        table.add_column(col, justify="left" if col == "tuning run" else "right")
    for p in tuning["points"]:
        ci = "-" if p["low"] is None or p["high"] is None else f"[{pct(p['low'])}, {pct(p['high'])}]"
        mark = " ".join(m for m, i in (("best", tuning["best"]), ("chosen", tuning["chosen"])) if p["index"] == i)
        table.add_row(*(p["point"][k] for k in keys), pct(p["score"]), ci, mark, p["run_id"])
    console.print(table)
    console.print(f"rule {tuning['rule']}; simplest = {tuning['simplicity']}")
