"""The README stays true: every built-in is documented, and CI runs the README's commands."""

from __future__ import annotations

import re

from pathlib import Path

from vosbench.propagation.protocol import PRESETS
from vosbench.core.registry import datasets, models

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
#: the README and the documentation pages under docs/
DOCS = README + "".join(p.read_text() for p in sorted((REPO / "docs").rglob("*.md")))


def test_every_builtin_model_dataset_and_preset_is_in_the_readme():
    names = [e.spec.name for r in (models, datasets) for e in r.entries() if e.source == "built-in"]
    missing = [n for n in names + list(PRESETS) if f"`{n}`" not in DOCS]
    assert not missing, f"not documented in README.md or docs/: {missing}"


def test_ci_runs_the_readme_fresh_machine_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [ln for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text()
    for cmd in commands:
        assert cmd.strip() in ci, f"README command not run by .ci/run: {cmd}"
