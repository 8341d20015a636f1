"""``vosbench merge``: the record of a run folder that several processes filled.

Shards write the record themselves when the last one finds every sequence in (and torchrun's
rank 0 after its barrier); :func:`merge` is for when that did not happen (the last shard was
killed after its final commit) or to rebuild a record. It writes the same record, byte for byte,
from the plan and the committed sequences alone (:func:`vosbench.runs.record.write_record`),
and refuses a folder with sequences missing, naming them.
"""

from __future__ import annotations

from pathlib import Path

from vosbench.runs.record import Written, write_record


def merge(run_dir: str | Path) -> Written:
    """Write the record of ``run_dir`` once every planned sequence is committed; return it with
    its per-object scores (``InputFileError`` naming the missing sequences otherwise)."""
    return write_record(run_dir)
