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
  sequences only (:mod:`vosbench.runs.merge`), so it does not matter which process did which
  sequence, or how often a run was interrupted.
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
from typing import Any

from vosbench.core.errors import ConfigError, InputFileError
from vosbench.core.io import atomic_write_text
from vosbench.core.safepath import name_problem, safe_join
from vosbench.records.schema import PLAN
from vosbench.runs.locks import FileLock, holder

log = logging.getLogger("vosbench.runs")

PLAN_VERSION = 1
COMMITTED = "sequences"
STAGING = ".partial"
RESULT = "result.json"


def plan_path(run_dir: Path) -> Path:
    return Path(run_dir) / PLAN


def read_plan(run_dir: Path) -> dict[str, Any]:
    """The plan of ``run_dir`` (``InputFileError`` naming the file when absent, unreadable or
    not a plan this vosbench wrote: every sequence once, each name one safe folder name)."""
    path = plan_path(run_dir)
    if not path.is_file():
        raise InputFileError(
            f"{path} not found: {run_dir} is not a run folder written by this vosbench (runs made before "
            "resumable runs cannot be resumed or merged; start a new run)"
        )
    refuse_link(path, run_dir)
    try:
        plan: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read the run plan ({e})") from None
    if not isinstance(plan, dict) or plan.get("plan_version") != PLAN_VERSION:
        got = plan.get("plan_version") if isinstance(plan, dict) else None
        raise InputFileError(f"{path}: plan_version {got!r}, this vosbench reads {PLAN_VERSION}")
    check_plan(path, plan)
    return plan


def check_plan(path: Path, plan: dict[str, Any]) -> None:
    """Refuse a plan whose sequences are not a list of distinct safe names with frame counts,
    or without a record head (the plan was edited or damaged)."""
    seqs = plan.get("sequences")
    record = plan.get("record")
    if not isinstance(seqs, list) or not isinstance(record, dict) or not isinstance(plan.get("config"), dict):
        raise InputFileError(f"{path}: not a run plan (no record, config or sequences list); the file was edited or damaged")
    seen: set[str] = set()
    for entry in seqs:
        name = entry.get("name") if isinstance(entry, dict) else None
        problem = name_problem(name)
        if problem is not None:
            raise InputFileError(
                f"{path}: sequence name {name!r} is not a single safe folder name ({problem}); the plan was edited or damaged"
            )
        assert isinstance(name, str) and isinstance(entry, dict)
        if name in seen:
            raise InputFileError(f"{path}: sequence {name!r} is listed twice; the plan was edited or damaged")
        frames = entry.get("frames")
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
            raise InputFileError(f"{path}: sequence {name!r} has frames {frames!r}, expected a count; the plan was edited or damaged")
        seen.add(name)


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


def create_or_read_plan(run_dir: Path, plan: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Write ``plan`` as ``run_dir/plan.json`` unless one is there already (exclusive create, so
    two shards starting together cannot both write it). Returns the plan in force and whether this
    call created it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = plan_path(run_dir)
    tmp = run_dir / f".{PLAN}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)  # fails when the plan exists: the first writer wins
        return plan, True
    except FileExistsError:
        return read_plan(run_dir), False
    finally:
        tmp.unlink(missing_ok=True)


def _fmt(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def plan_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two plans in what decides the numbers: model, checkpoint (by
    SHA-256), model options, protocol, dataset, precision, sweep point, saved predictions."""
    a, b = old["record"], new["record"]
    out: list[str] = []

    def check(label: str, x: Any, y: Any) -> None:
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
    check("sweep point", (a.get("sweep") or {}).get("point"), (b.get("sweep") or {}).get("point"))
    check(
        "--save-predictions",
        old["config"].get("save_predictions"),
        new["config"].get("save_predictions"),
    )
    return out


def check_same_run(run_dir: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
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


def check_committed(run_dir: Path, names: list[str]) -> None:
    """Refuse a commit area holding a sequence the plan does not list (a plan edited after the
    fact, or two runs mixed) or a symbolic link."""
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


def load_result(run_dir: Path, name: str) -> dict[str, Any]:
    """The committed result of sequence ``name`` (refused when it is reached through a symbolic
    link or claims another sequence)."""
    folder = Path(run_dir) / COMMITTED / name
    path = folder / RESULT
    refuse_link(folder, run_dir)
    refuse_link(path, run_dir)
    try:
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read a committed sequence ({e}); delete {path.parent} to redo it") from None
    claimed = result.get("sequence") if isinstance(result, dict) else None
    if claimed != name:
        raise InputFileError(
            f"{path}: holds the result of sequence {claimed!r}, not {name!r}; the file was edited or moved "
            f"(delete {folder} to redo the sequence)"
        )
    return result


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


def commit(run_dir: Path, name: str, stage: Path, result: dict[str, Any], moves: list[tuple[Path, Path]]) -> bool:
    """Commit sequence ``name``: write ``result.json`` into ``stage``, move each ``(staged,
    final)`` output into place (replacing what a killed attempt left), then rename ``stage`` to
    ``sequences/<name>`` (the commit point). Returns False when another process committed the
    sequence first (this attempt is then dropped)."""
    run_dir = Path(run_dir)
    if committed(run_dir, name):
        shutil.rmtree(stage, ignore_errors=True)
        return False
    atomic_write_text(stage / RESULT, json.dumps(result) + "\n")
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
