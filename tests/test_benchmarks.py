"""Every script in benchmarks/ still works with the package: it imports, every vosbench name it
imports (at the top or inside a function, where most of them wait until they are needed) exists,
and ``python benchmarks/<script>.py --help`` exits 0."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((REPO / "benchmarks").glob("*.py"))


def vosbench_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) of every ``import vosbench...`` / ``from vosbench... import name``."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "vosbench":
            found += [(node.lineno, node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names if alias.name.split(".")[0] == "vosbench"]
    return found


def test_there_are_benchmarks():
    assert {p.name for p in BENCHMARKS} >= {"propagation.py", "stats_speed.py", "gpu.py"}


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_every_vosbench_name_a_benchmark_imports_exists(path):
    for line, module, name in vosbench_imports(path):
        where = f"{path.name}:{line}"
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            pytest.fail(f"{where}: import {module} fails: {e}")
        if name is not None and not hasattr(mod, name):
            assert importlib.util.find_spec(f"{module}.{name}") is not None, f"{where}: {module} has no {name}"


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_imports_and_answers_help(path):
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))  # module level only: main() is not run
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "VOSBENCH_NO_PLUGINS": "1"}
    res = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120,
                         cwd=REPO, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage:"), res.stdout
