"""How a run record is named in tables: model, checkpoint, protocol and sequence labels, and the
identity (model, checkpoint, protocol, settings, dataset, sequences) that leaderboards and checks
group records by; :func:`select_runs` keeps the latest run of each identity."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from vosbench.records.reader import LATER_SETTINGS, RunRecord


def fmt_setting(value: object) -> str:
    """A protocol setting or model option as text: ``none``, ``true``/``false``, numbers as repr."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(fmt_setting(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={fmt_setting(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def model_label(record: RunRecord) -> str:
    """Model name, with its options when any were given (``resnet18 (seed=1)``)."""
    if not record.model_options:
        return record.model
    opts = ", ".join(f"{k}={fmt_setting(v)}" for k, v in sorted(record.model_options.items()))
    return f"{record.model} ({opts})"


def checkpoint_label(record: RunRecord) -> str:
    """File name plus the first 12 hex digits of its SHA-256; ``random init`` for a model run on
    random weights; ``-`` for a model that takes no checkpoint.

    The folder part of the path is left out on purpose: the same file on another machine is the
    same checkpoint, and a baseline must match there too.
    """
    sha = record.checkpoint_sha256
    name = Path(record.checkpoint).name if record.checkpoint else None
    if sha and name:
        return f"{name} ({sha[:12]})"
    if sha:
        return f"sha256:{sha[:12]}"
    if name:
        return name
    return "random init" if record.random_init else "-"


def settings_key(settings: Mapping[str, object]) -> str:
    """Canonical one-line form of protocol settings (sorted ``key=value;...``), used as identity."""
    return ";".join(f"{k}={fmt_setting(v)}" for k, v in sorted(settings.items()))


def canonical_settings_text(text: str) -> str:
    """A ``settings_key`` text written earlier (a baseline's ``protocol_settings`` cell) with every
    setting of :data:`~vosbench.records.reader.LATER_SETTINGS` left out while it holds that value,
    as :meth:`RunRecord.protocol_settings` leaves it out of a record: e.g. pose records always wrote
    ``keypoint_readout_topk=3``, which later became a protocol setting of every run."""
    defaults = {k: fmt_setting(v) for k, v in LATER_SETTINGS.items()}
    parts = [p for p in text.split(";") if p]
    return ";".join(p for p in parts if defaults.get(p.partition("=")[0]) != p.partition("=")[2])


def sequences_label(record: RunRecord) -> str:
    """The sequences a run covered: up to three names joined by ``+``, else their count and a short
    hash of the sorted names (``6 sequences #1a2b3c``); empty when the record lists none.

    Part of a row's identity, so a run on ``--sequences`` never replaces a run on the whole set.
    """
    names = sorted(set(record.sequences))
    if not names:
        return ""
    if len(names) <= 3:
        return "+".join(names)
    digest = hashlib.sha1("\n".join(names).encode("utf-8")).hexdigest()[:6]
    return f"{len(names)} sequences #{digest}"


def protocol_label(record: RunRecord) -> str:
    """``<preset> v<version>``; for a run whose settings ``vosbench tune`` chose, followed by
    ``(tuned)`` or, chosen on evaluation data, ``(tuned on eval data)``: a tuned run is never the
    same leaderboard row (or baseline row) as a run given the same settings by hand."""
    text = f"{record.protocol_name} v{record.protocol_version}"
    if record.tuning is not None:
        text += " (tuned on eval data)" if record.tuning.get("allow_test_tuning") else " (tuned)"
    return text


def identity(record: RunRecord) -> tuple[str, str, str, str, str, str]:
    """What makes two runs comparable: dataset, model (+options), checkpoint, protocol, settings,
    and the set of sequences."""
    return (
        record.benchmark,
        model_label(record),
        checkpoint_label(record),
        protocol_label(record),
        settings_key(record.protocol_settings()),
        sequences_label(record),
    )


def select_runs(records: Iterable[RunRecord], *, all_runs: bool = False) -> list[RunRecord]:
    """The latest run of each identity (by ``created``, then run id), or every run with ``all_runs``."""
    records = list(records)
    if all_runs:
        return records
    latest: dict[tuple[str, ...], RunRecord] = {}
    for r in records:
        key = identity(r)
        if key not in latest or r.sort_time() > latest[key].sort_time():
            latest[key] = r
    return list(latest.values())
