"""What a run folder holds while it is being filled: its plan and its committed sequences.

Every run (one process, shards, resumed) fills its folder the same way:

- ``plan.json``, written once by the first process (exclusively: a second process reads it and
  must agree with it), holds the record head (model, checkpoint hash, protocol, dataset), the
  configuration (to resume from) and the sequences with their frame counts, in dataset order;
- a sequence is worked on in ``.partial/<sequence>/<token>/`` (its PNGs or keypoints, then its
  ``result.json`` with the per-object or per-video scores and timings) and committed by two
  renames: its outputs into ``predictions/<sequence>/`` (or ``keypoints/<sequence>.csv``), then
  the staging folder to ``sequences/<sequence>/``. That last rename is the commit: a sequence
  without ``sequences/<sequence>/result.json`` is not done and is redone on resume, whatever
  else of it is on disk;
- the run record (``summary.json`` and the tables) is made from the plan and the committed
  sequences only (:mod:`vosbench.runs.record`), so it does not matter which process did which
  sequence, or how often a run was interrupted.

A sequence is staged and committed under its own lock (:func:`claim_sequence`), so two processes
never share a staging folder; what is read back (plan, results) is checked by
:mod:`vosbench.records.ledger_files`, and a symbolic link where vosbench writes none is refused.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.core.io import atomic_write_text
from vosbench.core.safepath import safe_join
from vosbench.records import ledger_files
from vosbench.records.ledger_files import COMMITTED, PLAN_VERSION, RESULT, plan_text, result_text
from vosbench.records.schema import PLAN
from vosbench.records.types import Plan, SequenceResult
from vosbench.runs.locks import FileLock, holder

log = logging.getLogger("vosbench.runs")

__all__ = ["COMMITTED", "PLAN_VERSION", "RESULT", "STAGING"]  # the layout's names, re-exported

STAGING = ".partial"


def plan_path(run_dir: Path) -> Path:
    return Path(run_dir) / PLAN


def read_plan(run_dir: Path) -> Plan:
    """The plan of ``run_dir``, checked (:func:`vosbench.records.ledger_files.read_plan`: each
    sequence once, with a safe name and a frame count) and not reached through a symbolic link;
    ``InputFileError`` naming the file otherwise."""
    refuse_link(plan_path(run_dir), run_dir)
    return ledger_files.read_plan(run_dir)


def refuse_link(path: Path, run_dir: Path) -> None:
    """Refuse (``InputFileError``, one line) when ``path`` in ``run_dir`` is a symbolic link:
    vosbench makes none, and one could make a run read or write outside its folder."""
    if path.is_symlink():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        raise InputFileError(
            f"{path} is a symbolic link (to {target}); vosbench writes no links in a run folder "
            f"and reads none from it: remove the link (run folder {run_dir})"
        )


def check_folder_links(run_dir: Path) -> None:
    """Refuse a run folder whose staging or commit area is a symbolic link (before any write)."""
    for name in (STAGING, COMMITTED):
        refuse_link(Path(run_dir) / name, run_dir)


def create_or_read_plan(run_dir: Path, plan: Plan) -> tuple[Plan, bool]:
    """Write ``plan`` as ``run_dir/plan.json`` unless one is there already (exclusive create, so
    two shards starting together cannot both write it). Returns the plan in force and whether this
    call created it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = plan_path(run_dir)
    tmp = run_dir / f".{PLAN}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(plan_text(plan), encoding="utf-8")
    try:
        os.link(tmp, path)  # fails when the plan exists: the first writer wins
        return plan, True
    except FileExistsError:
        return read_plan(run_dir), False
    finally:
        tmp.unlink(missing_ok=True)


def _fmt(v: object) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def plan_differences(old: Plan, new: Plan) -> list[str]:
    """What differs between two plans in what decides the numbers: model, checkpoint (by
    SHA-256), model options, protocol, dataset, precision, sweep point, saved predictions; and
    for a tune's evaluation run, how its settings were chosen."""
    a, b = old["record"], new["record"]
    out: list[str] = []

    def check(label: str, x: object, y: object) -> None:
        if _fmt(x) != _fmt(y):
            out.append(f"{label}: {_fmt(x)} in the run folder, {_fmt(y)} now")

    check("task", a.get("task"), b.get("task"))
    check("model", a["model"].get("name"), b["model"].get("name"))
    check("model options", a["model"].get("options"), b["model"].get("options"))
    if a["model"].get("checkpoint_sha256") or b["model"].get("checkpoint_sha256"):
        check("checkpoint SHA-256", a["model"].get("checkpoint_sha256"), b["model"].get("checkpoint_sha256"))
    else:
        check("checkpoint", a["model"].get("checkpoint"), b["model"].get("checkpoint"))
    pa, pb = a.get("protocol", {}), b.get("protocol", {})
    for key in list(pa) + [k for k in pb if k not in pa]:
        check(f"protocol {key}", pa.get(key), pb.get(key))
    da, db = a.get("dataset", {}), b.get("dataset", {})
    for key in list(da) + [k for k in db if k not in da]:
        check(f"dataset {key}", da.get(key), db.get(key))
    check("precision", a.get("precision"), b.get("precision"))
    sa, sb = a.get("sweep"), b.get("sweep")
    check("sweep point", sa["point"] if sa else None, sb["point"] if sb else None)
    if b.get("tuning") is not None:  # `vosbench tune` again (`vosbench run --resume` keeps the stored choice)
        check("tuning", a.get("tuning"), b.get("tuning"))
    check(
        "--save-predictions",
        old["config"].get("save_predictions"),
        new["config"].get("save_predictions"),
    )
    return out


def check_same_run(run_dir: Path, old: Plan, new: Plan) -> None:
    """Refuse (``ConfigError``, exit 2) to add work to ``run_dir`` made with other settings."""
    diff = plan_differences(old, new)
    if diff:
        raise ConfigError(
            f"{run_dir} holds a run with other settings, so its sequences cannot be combined with this one's:\n  "
            + "\n  ".join(diff)
            + "\nResume it with its own settings (`vosbench run --resume RUN_DIR` alone), or start a new run "
            "(another --run-id)."
        )


def committed(run_dir: Path, name: str) -> bool:
    return (Path(run_dir) / COMMITTED / name / RESULT).is_file()


def committed_names(run_dir: Path, names: Iterable[str]) -> list[str]:
    return [n for n in names if committed(run_dir, n)]


def check_committed(run_dir: Path, names: list[str], *, results: bool = False) -> None:
    """Refuse a commit area holding a sequence the plan does not list (a plan edited after the
    fact, or two runs mixed) or a symbolic link; with ``results``, also every committed
    ``result.json`` that does not hold its own sequence's checked scores (what ``--resume``
    would otherwise only find after the work, when writing the record)."""
    area = Path(run_dir) / COMMITTED
    refuse_link(area, run_dir)
    if not area.is_dir():
        return
    planned = set(names)
    for entry in sorted(area.iterdir()):
        refuse_link(entry, run_dir)
        if entry.name not in planned:
            raise InputFileError(
                f"{entry}: a committed sequence that {plan_path(run_dir)} does not list; the plan was edited "
                "or the folder mixes two runs"
            )
        if results and committed(run_dir, entry.name):
            load_result(run_dir, entry.name)


def load_result(run_dir: Path, name: str) -> SequenceResult:
    """The committed result of sequence ``name``, checked (:func:`vosbench.records.ledger_files.read_result`:
    it claims its own sequence, its scores are in range) and not reached through a symbolic link."""
    folder = Path(run_dir) / COMMITTED / name
    refuse_link(folder, run_dir)
    refuse_link(folder / RESULT, run_dir)
    return ledger_files.read_result(run_dir, name)


def process_token() -> str:
    """Names this process's staging folders (host, pid and a random part: unique across nodes)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def claim_sequence(run_dir: Path, name: str, token: str) -> tuple[FileLock, Path] | None:
    """Lock sequence ``name`` (waiting while another process stages or commits it) and give it
    a fresh staging folder ``.partial/<name>/<token>``, removing what a killed attempt left
    there; ``None`` when the sequence is committed (by the other process meanwhile). The lock
    is held until the sequence is committed (:func:`commit`) or dropped."""
    run_dir = Path(run_dir)
    staging = run_dir / STAGING
    refuse_link(staging, run_dir)
    staging.mkdir(exist_ok=True)
    path = staging / f"{name}.lock"
    lock = FileLock.take(path, wait=False)
    if lock is None:
        log.info("sequence %s is being written by %s: waiting for it", name, holder(path).describe())
        lock = FileLock.wait_for(path)
    try:
        if committed(run_dir, name):
            lock.release()
            return None
        base = safe_join(staging, name)
        if base.is_symlink() or base.exists():
            refuse_link(base, run_dir)
            shutil.rmtree(base)
        stage = base / token
        stage.mkdir(parents=True)
    except BaseException:
        lock.release()
        raise
    return lock, stage


def commit(run_dir: Path, name: str, stage: Path, result: SequenceResult, moves: list[tuple[Path, Path]]) -> bool:
    """Commit sequence ``name``: write ``result.json`` into ``stage``, move each ``(staged,
    final)`` output into place (replacing what a killed attempt left), then rename ``stage`` to
    ``sequences/<name>`` (the commit point). Returns False when another process committed the
    sequence first (this attempt is then dropped)."""
    run_dir = Path(run_dir)
    if committed(run_dir, name):
        shutil.rmtree(stage, ignore_errors=True)
        return False
    atomic_write_text(stage / RESULT, result_text(result))
    for src, dst in moves:
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_dir():
            shutil.rmtree(dst)
        os.replace(src, dst)
    final = safe_join(run_dir, COMMITTED, name)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():  # a commit marker folder without result.json: an interrupted commit
        shutil.rmtree(final)
    os.rename(stage, final)
    return True


def clean_staging(run_dir: Path) -> None:
    """Remove the staging area of a finished run."""
    shutil.rmtree(Path(run_dir) / STAGING, ignore_errors=True)
