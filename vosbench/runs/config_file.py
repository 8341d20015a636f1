"""Runs described in files: ``vosbench run --config FILE.toml`` and ``--replay RUN/summary.json``.

A config file holds any ``vosbench run`` option under its option name (dashes or underscores)
and any protocol setting::

    model = "resnet18"
    dataset = "davis17-val"
    checkpoint = "resnet18-imagenet"      # a file path or an official weight name
    data_root = "~/data/DAVIS-2017"
    sequences = ["bike-packing", "dogs-jump"]   # or "a,b"
    device = "cuda"
    precision = "bf16"
    batch_size = 8
    workers = 8                           # host worker processes, or "auto"
    out = "runs"
    save_predictions = true
    topk = 5                              # protocol settings at the top level ...
    [protocol]                            # ... or in a table, with the preset
    preset = "crw"
    radius = 8
    [model_options]
    seed = 1
    [dataset_options]
    heldout = "heldout.txt"
    [sweep]
    temperature = [0.05, 0.07]

Command-line options given explicitly override the file (``--set`` / ``--option`` /
``--dataset-option`` / the protocol flags per key). Relative paths in a file are relative to the
file's folder.

A replay takes everything that decides the numbers from a run record: model, checkpoint (its
SHA-256 must match the recorded one), dataset, root, options and sequences, every protocol setting
(pinned, so later changes of a preset's defaults do not leak in) and precision. It refuses, naming
the difference, when the checkpoint or the vosbench version differs, unless forced.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from vosbench.core.digest import sha256_file
from vosbench.core.errors import ConfigError, InputFileError
from vosbench.core.io import read_regular_file
from vosbench.core.version import __version__
from vosbench.propagation.protocol import Protocol
from vosbench.runs.config import RunConfig

PROTOCOL_KEYS = tuple(f.name for f in dataclasses.fields(Protocol) if f.name not in ("name", "version"))
_RUN_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
#: config-file keys that are not RunConfig field names
_ALIASES = {"options": "model_options", "set": "overrides", "settings": "overrides", "sweeps": "sweep"}
_PATH_KEYS = ("checkpoint", "data_root", "out")
#: Largest config file and run record read (a FIFO or device is refused before reading)
MAX_CONFIG_BYTES = 1 << 20
MAX_RECORD_BYTES = 64 << 20


def as_setting(value: Any) -> str:
    """A protocol value from a file or record as the text ``--set`` would take (checked by the
    protocol's parser: ``none``, ``true``/``false``, numbers)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_config_dict(cfg: RunConfig) -> dict[str, Any]:
    """``cfg`` as plain JSON/TOML data (what a run record keeps as ``run_config``); the shard and
    run id are left out: a replay is a new run, not one more shard of the old one."""
    d = dataclasses.asdict(cfg)
    d.pop("shard", None)
    d.pop("run_id", None)
    d["sequences"] = list(cfg.sequences)
    d["sweep"] = {k: list(v) for k, v in cfg.sweep}
    d.pop("candidates")
    if cfg.candidates:  # a list tune's grid points: the list as a config file writes it
        d["candidates"] = [dict(c) for c in cfg.candidates]
    return d


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        text = read_regular_file(path, MAX_CONFIG_BYTES, "config file").decode("utf-8")
        data: dict[str, Any] = tomllib.loads(text)
    except UnicodeDecodeError as e:
        raise InputFileError(f"{path}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise InputFileError(f"{path}: not valid TOML ({e}); see `vosbench run --help` for an example") from None
    except RecursionError:
        raise InputFileError(f"{path}: not a usable config file (nested too deeply)") from None
    return data


def _norm(key: str) -> str:
    k = key.strip().replace("-", "_")
    return _ALIASES.get(k, k)


def parse_config(
    data: dict[str, Any], where: str, base: Path | None = None, also: tuple[str, ...] = ()
) -> tuple[dict[str, Any], set[str]]:
    """Config data -> (:meth:`RunConfig.from_options` keyword arguments, the field names the data
    sets); the values are typed and range-checked there.

    ``base`` resolves relative paths; ``also`` names the keys a caller reads itself (the tune
    options), for the message about an unknown key. Raises :class:`ConfigError` naming ``where``
    and the key.
    """
    kw: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _norm(raw_key)
        if key == "protocol" and isinstance(value, dict):
            for pk, pv in value.items():
                pk = _norm(pk)
                if pk in ("preset", "name"):
                    kw["protocol"] = str(pv)
                elif pk in PROTOCOL_KEYS:
                    overrides[pk] = pv
                else:
                    raise ConfigError(f"{where}: [protocol] {pk!r} is not a protocol setting; settable: preset, {', '.join(PROTOCOL_KEYS)}")
        elif key in PROTOCOL_KEYS:
            overrides[key] = value
        elif key == "overrides":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {raw_key!r} must be a table of protocol settings")
            for ok, ov in value.items():
                if _norm(ok) not in PROTOCOL_KEYS:
                    raise ConfigError(f"{where}: [{raw_key}] {ok!r} is not a protocol setting; settable: {', '.join(PROTOCOL_KEYS)}")
                overrides[_norm(ok)] = ov
        elif key in _RUN_FIELDS and key not in ("overrides",):
            kw[key] = value
        else:
            keys = sorted((_RUN_FIELDS - {"overrides"}) | {"protocol"} | set(also))
            raise ConfigError(
                f"{where}: unknown key {raw_key!r}. Run options: {', '.join(keys)}; protocol settings (top level or "
                f"in [protocol]): {', '.join(PROTOCOL_KEYS)}"
            )
    if base is not None:
        for key in _PATH_KEYS:
            v = kw.get(key)
            if isinstance(v, str) and v and not Path(v).expanduser().is_absolute():
                cand = base / v
                # a checkpoint may also be an official weight name (no folder part): keep names as they are
                if key != "checkpoint" or cand.exists() or "/" in v:
                    kw[key] = str(cand)
    # protocol values from TOML are typed already; strings are parsed later like --set values
    kw["overrides"] = {k: as_setting(v) for k, v in overrides.items()}
    given = set(kw)
    if not overrides:
        given.discard("overrides")
    return kw, given


def load_config_file(path: str | Path) -> tuple[dict[str, Any], set[str]]:
    """Read a ``--config`` TOML file; see :func:`parse_config`."""
    p = Path(path).expanduser()
    return parse_config(_read_toml(p), str(p), p.resolve().parent)


#: keys of a ``vosbench tune --config`` file besides those of a run (the tune options)
TUNE_KEYS = ("tune_on", "tune_data_root", "tune_dataset_options", "tune_sequences", "rule", "metric",
             "allow_test_tuning")


def _tune_value(key: str, value: Any, where: str, base: Path) -> Any:
    """A tune option from a file, type-checked (``tune_data_root`` relative to the file's folder)."""
    if key == "tune_dataset_options":
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: 'tune_dataset_options' must be a table ([tune_dataset_options] with KEY = VALUE lines)")
        return dict(value)
    if key == "allow_test_tuning":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: 'allow_test_tuning' must be true or false, got {value!r}")
        return value
    if key == "tune_sequences":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        if not isinstance(value, str):
            raise ConfigError(f"{where}: 'tune_sequences' must be a list of names or a comma-separated string")
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    if key == "tune_data_root" and not Path(value).expanduser().is_absolute():
        return str(base / value)
    return value


def load_tune_file(path: str | Path) -> tuple[dict[str, Any], set[str], dict[str, Any]]:
    """Read a ``vosbench tune --config`` TOML file: a run's keys (:func:`parse_config`; the list
    of settings as ``[[candidates]]`` tables or the grid as ``[sweep]``) and the tune options
    (:data:`TUNE_KEYS`). Returns the run's keyword arguments, the fields they set, and the tune
    options."""
    p = Path(path).expanduser()
    data = _read_toml(p)
    tune_kw = {_norm(k): v for k, v in data.items() if _norm(k) in TUNE_KEYS}
    rest = {k: v for k, v in data.items() if _norm(k) not in TUNE_KEYS}
    kw, given = parse_config(rest, str(p), p.resolve().parent, also=TUNE_KEYS)
    return kw, given, {k: _tune_value(k, v, str(p), p.resolve().parent) for k, v in tune_kw.items()}


def merge(file_kw: dict[str, Any], cli_cfg: RunConfig, cli_given: set[str], where: str = "") -> RunConfig:
    """The run: ``cli_cfg`` where the command line gave an option, the file's value elsewhere;
    dict-valued settings (protocol overrides, model and dataset options) merge key by key. Every
    value is checked (:meth:`RunConfig.from_options`; ``where`` names the file in messages), the
    grid size by the caller."""
    for name in ("overrides", "model_options", "dataset_options"):
        file_val = file_kw.get(name)
        if file_val is not None and not isinstance(file_val, dict):
            raise ConfigError(f"{where}: {name!r} must be a table ([{name}] with KEY = VALUE lines), got {file_val!r}")
    out: dict[str, Any] = {}
    for f in dataclasses.fields(RunConfig):
        name = f.name
        cli_val = getattr(cli_cfg, name)
        if name in ("overrides", "model_options", "dataset_options"):
            out[name] = {**(file_kw.get(name) or {}), **(cli_val if name in cli_given else {})}
        elif name in cli_given or name not in file_kw:
            out[name] = cli_val
        else:
            out[name] = file_kw[name]
    return RunConfig.from_options(**out, large_grid=True, where=where)


# -- replay -------------------------------------------------------------------------------------
@dataclasses.dataclass
class Replay:
    """A run record turned back into a run."""

    source: Path
    config: dict[str, Any]
    given: set[str]
    record: dict[str, Any]
    differences: list[str]
    notes: list[str]


def _load_record(path: Path) -> dict[str, Any]:
    p = path / "summary.json" if path.is_dir() else path
    if not p.exists():
        raise InputFileError(f"{p}: run record not found; give RUN_DIR/summary.json of an earlier run")
    try:
        data = json.loads(read_regular_file(p, MAX_RECORD_BYTES, "run record").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputFileError(f"{p}: cannot read the run record ({e})") from None
    except RecursionError:
        raise InputFileError(f"{p}: not a vosbench run record (nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or not isinstance(data.get("dataset"), dict):
        raise InputFileError(f"{p}: not a vosbench run record (no 'model' and 'dataset' sections)")
    return data


def _section(data: dict[str, Any], key: str, where: str, parent: str = "") -> dict[str, Any]:
    """``data[key]``: a table (empty when missing or null)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputFileError(f"{where}: {parent + '.' if parent else ''}{key} must be a table, got {value!r}")
    return value


def _typed(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, parent: str) -> Any:
    """``data.get(key)`` when it has the type ``kind`` (a list: of strings)."""
    value = data.get(key)
    if isinstance(value, list) and kind is list and all(isinstance(v, str) for v in value):
        return value
    if kind is list and value is None:
        return None
    if kind is not list and isinstance(value, kind):
        return value
    raise InputFileError(f"{where}: {parent}.{key} has the wrong type ({value!r}); not a vosbench run record")


def load_replay(path: str | Path) -> Replay:
    """Turn ``RUN_DIR/summary.json`` into run settings and list what differs from then.

    Differences that can change the numbers (vosbench version, checkpoint file or its hash,
    keypoint read-out constants) go to ``differences``; the caller refuses to run unless forced.
    """
    from vosbench.propagation.keypoints import SIGMA_CELLS

    src = Path(path).expanduser()
    rec = _load_record(src)
    where = str(src)
    model, ds = rec["model"], rec["dataset"]
    proto = _section(rec, "protocol", where)
    stored = _section(rec, "run_config", where)
    environment = _section(rec, "environment", where)
    differences: list[str] = []
    notes: list[str] = []

    kw: dict[str, Any] = {
        "model": _typed(model, "name", (str, type(None)), where, "model"),
        "dataset": _typed(ds, "name", (str, type(None)), where, "dataset"),
        "model_options": _section(model, "options", where, "model"),
        "data_root": _typed(ds, "root", (str, type(None)), where, "dataset"),
        "dataset_options": _section(stored, "dataset_options", where, "run_config"),
        "sequences": tuple(_typed(ds, "sequences", list, where, "dataset") or ()),
        "protocol": _typed(proto, "name", (str, type(None)), where, "protocol"),
        "overrides": {k: as_setting(proto[k]) for k in PROTOCOL_KEYS if k in proto},
        "precision": rec.get("precision") or stored.get("precision") or "fp32",
    }
    for key in ("batch_size", "save_predictions"):
        if key in stored:
            kw[key] = stored[key]
    if not kw["model"] or not kw["dataset"]:
        raise InputFileError(f"{where}: the record names no model or dataset")
    if not stored.get("dataset_options") and ds.get("task") == "vos" and str(ds.get("heldout", "")).startswith("file "):
        notes.append(f"the original run used a held-out list ({ds['heldout']}); pass it again with --dataset-option heldout=FILE")

    version = environment.get("vosbench")
    if version != __version__:
        differences.append(f"vosbench version: the run was made with {version}, this is {__version__}")
    if proto.get("keypoint_sigma") not in (None, SIGMA_CELLS):
        differences.append(
            f"keypoint read-out: the run used sigma {proto.get('keypoint_sigma')}, "
            f"this version uses {SIGMA_CELLS} (not settable)"
        )
    ckpt = _typed(model, "checkpoint", (str, type(None)), where, "model")
    want = _typed(model, "checkpoint_sha256", (str, type(None)), where, "model")
    if ckpt:
        kw["checkpoint"] = ckpt
        f = Path(ckpt).expanduser()
        if want:
            if not f.is_file():
                differences.append(
                    f"checkpoint: {f} (SHA-256 {want}) is not there any more; pass the same file with --checkpoint"
                )
            else:
                have = sha256_file(f)
                if have != want:
                    differences.append(f"checkpoint: {f} now has SHA-256 {have}, the run used {want}")
    return Replay(src, kw, set(kw), rec, differences, notes)


def check_replay_checkpoint(replay: Replay, cfg: RunConfig) -> list[str]:
    """A ``--checkpoint`` given with ``--replay`` must be the recorded file (by hash)."""
    want = replay.record["model"].get("checkpoint_sha256")
    if cfg.checkpoint is None or cfg.checkpoint == replay.config.get("checkpoint") or not want:
        return []
    f = Path(cfg.checkpoint).expanduser()
    if not f.is_file():
        return []  # an official weight name: create_model resolves and the record will show its hash
    have = sha256_file(f)
    return [] if have == want else [f"checkpoint: {f} has SHA-256 {have}, the run used {want}"]
