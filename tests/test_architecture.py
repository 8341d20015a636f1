"""The package's import structure: no import loops, and imports flow one way.

cli -> runs -> evaluate / results -> records, propagation, scoring, datasets, models -> core;
records/ (the run-record contract) depends only on core and scoring, and models/ and datasets/ only on core. Every import counts, including those inside functions and under TYPE_CHECKING: a lazy
import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vosbench

PKG = Path(vosbench.__file__).parent

ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "models": {"core", "models"},
    "datasets": {"core", "datasets"},
    "propagation": {"core", "propagation"},
    "scoring": {"core", "scoring"},
    # the run-record contract: what a run writes and every reader reads back
    "records": {"core", "scoring", "records"},  # per-object scores are scoring.jf.ObjectScore
    # folder evaluators, one per benchmark: dataset adapters for the ground truth, scoring for the numbers
    "evaluate": {"core", "datasets", "scoring", "records", "evaluate"},
    # analyses of records (leaderboard, check, compare, report); reports read frames through the adapters
    "results": {"core", "scoring", "datasets", "records", "results"},
    "runs": {"core", "models", "datasets", "propagation", "scoring", "records", "evaluate", "results", "runs"},
    "cli": {"core", "models", "datasets", "propagation", "scoring", "records", "evaluate", "results", "runs", "cli"},
    "harness": {"core"},  # re-exports kept for plugins written against vosbench 0.1
    # vosbench/__init__.py and __main__.py; runs for the notebook API (vosbench.run / vosbench.evaluate,
    # imported inside the functions, so `import vosbench` stays light)
    "": {"core", "models", "datasets", "cli", "runs", "evaluate"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every ``vosbench...`` module imported anywhere in ``path`` (resolved to modules we have)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            if n == "vosbench" or n.startswith("vosbench."):
                while n not in MODULES and "." in n:
                    n = n.rsplit(".", 1)[0]
                out.add(n)
    out.discard(me)
    return out


FILES = sorted(PKG.rglob("*.py"))
MODULES = {module_name(p) for p in FILES}
GRAPH = {module_name(p): imports_of(p) for p in FILES}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return ""
    return parts[1]


def test_every_module_belongs_to_a_known_layer():
    assert {layer(m) for m in MODULES} <= set(ALLOWED)


def test_imports_flow_one_way():
    bad = []
    for mod, deps in GRAPH.items():
        for dep in deps:
            if dep == "vosbench" and layer(mod) != "":
                bad.append(f"{mod} imports the top-level package (import from the module that defines it)")
            elif dep != "vosbench" and layer(dep) not in ALLOWED[layer(mod)]:
                bad.append(f"{mod} ({layer(mod) or 'top'}) imports {dep} ({layer(dep) or 'top'})")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_loops():
    state: dict[str, int] = {}
    loops: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(GRAPH.get(m, ())):
            if state.get(d) == 1:
                loops.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert not loops, "\n".join(" -> ".join(loop) for loop in loops)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The walker must not miss imports inside functions (a loop hidden in a function is a loop)."""
    src = PKG / "runs" / "__init__.py"
    assert "vosbench.runs.vos" in GRAPH["vosbench.runs"]  # imported inside run_sweep
    assert "import" in src.read_text()


def test_plugins_written_against_0_1_still_import():
    """``vosbench.core.specs`` / ``.errors`` / ``.registry`` re-export the same objects."""
    from vosbench.core import errors, registry, specs
    from vosbench.harness import errors as old_errors
    from vosbench.harness import registry as old_registry
    from vosbench.harness import specs as old_specs

    assert old_specs.ModelSpec is specs.ModelSpec and old_specs.DatasetSpec is specs.DatasetSpec
    assert old_errors.ConfigError is errors.ConfigError and old_errors.VosbenchError is errors.VosbenchError
    assert old_registry.models is registry.models
    assert vosbench.ModelSpec is specs.ModelSpec and vosbench.ConfigError is errors.ConfigError
