"""Shared fixtures. Installed third-party plugins are ignored (VOSBENCH_NO_PLUGINS) so that the
registries are deterministic; the plugin test turns them back on in a subprocess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["VOSBENCH_NO_PLUGINS"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DAVIS16_MINI = SHARED_DATA / "davis16-val-mini"


@pytest.fixture(scope="session")
def davis16_mini() -> Path:
    """The real six-sequence DAVIS-2016 sample, read in place."""
    if not DAVIS16_MINI.is_dir():
        pytest.skip(f"real test data not found at {DAVIS16_MINI} (../shared/data beside the repo)")
    return DAVIS16_MINI


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own VOSBENCH_CACHE unless it sets one; nothing is written to ~/.cache."""
    if "VOSBENCH_CACHE" not in os.environ:
        monkeypatch.setenv("VOSBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "vosbench-cache"))
