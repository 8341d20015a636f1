"""The documentation stays true: every ```bash and ```python example of docs/ and README.md runs (offline,
on generated data, from a temporary folder with VOSBENCH_CACHE set; ```text blocks are not run), every
built-in model, dataset and preset is named in docs/, the site builds with ``mkdocs build --strict``, the
README stays a short front door, and CI runs the README's fresh-machine commands.

How a page's examples run: its blocks in order, in one temporary folder, like a reader typing them (a later
block may use what an earlier one made). Python blocks share one namespace per page and run in-process. Bash
blocks run line by line: a ``vosbench ...`` line in-process through click (the same command, without a
fresh interpreter per line: torch is imported once), an ``export`` line sets the variable, any other line
(or a ``vosbench`` line with pipes, redirections or file-name patterns) goes to ``bash -c`` with a
``vosbench`` on PATH that runs this checkout. A block with a compound command (``if ... fi``, loops) or a
here-document runs as one bash script the same way. Each line must succeed.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vosbench.core.registry import datasets, models
from vosbench.propagation.protocol import PRESETS
from tests.support.cli import invoke

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"
BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
RUN_ELSEWHERE = "<!-- tests/test_api.py runs this example -->"  # the Python API example: run with more checks there
SHELL_SYNTAX = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "&"}
GLOB = set("*?[")  # file-name patterns: bash expands them
COMPOUND = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "function", "{", "}"}


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md")) + [README]


def blocks(page: Path) -> list[tuple[str, int, str]]:
    """(language, line number, code) of every fenced block of ``page``."""
    text = page.read_text(encoding="utf-8")
    return [(m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2)) for m in BLOCK.finditer(text)]


def fresh_machine_block() -> str:
    """The README's first ```bash block: the two fresh-machine commands, which .ci/run runs verbatim."""
    return next(code for lang, _, code in blocks(README) if lang == "bash")


def examples(page: Path) -> list[tuple[str, int, str]]:
    """The blocks of ``page`` that this test runs."""
    text = page.read_text(encoding="utf-8")
    out = []
    for lang, line, code in blocks(page):
        if lang not in ("bash", "python"):
            continue
        if page == README and code == fresh_machine_block():
            continue  # run by .ci/run itself (test_ci_runs_the_readme_fresh_machine_commands)
        before = text.split("\n")[max(0, line - 2)]
        if before.strip() == RUN_ELSEWHERE:
            continue  # tests/test_api.py runs it (test_example_run_elsewhere_is_run_there)
        out.append((lang, line, code))
    return out


PAGES_WITH_EXAMPLES = [p for p in pages() if examples(p)]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One VOSBENCH_CACHE for all pages, so the synthetic sets are generated once."""
    return tmp_path_factory.mktemp("docs-cache")


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    """A folder with a ``vosbench`` and a ``python`` that run this checkout, for ``bash -c`` lines."""
    folder = tmp_path_factory.mktemp("docs-bin")
    for name, body in (("vosbench", f'exec "{sys.executable}" -m vosbench "$@"\n'),
                       ("python", f'exec "{sys.executable}" "$@"\n')):
        path = folder / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def shell_lines(code: str) -> list[str]:
    """Logical lines of a bash block (backslash continuations joined, blank and comment lines dropped)."""
    return [ln.strip() for ln in code.replace("\\\n", " ").splitlines() if ln.strip() and not ln.strip().startswith("#")]


def compound(code: str) -> bool:
    """A block with a compound command (``if``/``for``/... spanning lines) or a here-document: it
    runs as one bash script."""
    return "<<" in code or any(shlex.split(ln, comments=True)[:1] and shlex.split(ln, comments=True)[0] in COMPOUND
                               for ln in shell_lines(code))


def run_bash(script: str, where: str, env_path: str) -> None:
    env = {**os.environ, "PATH": env_path + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{where}: `{script}` exited with {res.returncode}\n{res.stdout}\n{res.stderr}"


def run_shell_line(line: str, where: str, env_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = shlex.split(line, comments=True)
    if argv and argv[0] == "export" and all("=" in a for a in argv[1:]):
        for assignment in argv[1:]:
            key, value = assignment.split("=", 1)
            monkeypatch.setenv(key, os.path.expanduser(os.path.expandvars(value)))
        return
    if argv and argv[0] == "vosbench" and not SHELL_SYNTAX & set(argv) and not GLOB & set(line):
        args = [os.path.expanduser(os.path.expandvars(a)) for a in argv[1:]]
        res = invoke(*args)
        assert res.exit_code == 0, f"{where}: `{line}` exited with {res.exit_code}\n{res.output}{res.exception!r}"
        return
    run_bash(line, where, env_path)


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_examples_run(page, tmp_path, monkeypatch, shared_cache, shim):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOSBENCH_CACHE", str(shared_cache))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for lang, line, code in examples(page):
        where = f"{page.relative_to(REPO)}:{line}"
        if lang == "python":
            exec(compile(code, where, "exec"), namespace)
        elif compound(code):
            run_bash(code, where, str(shim))
        else:
            for cmd in shell_lines(code):
                run_shell_line(cmd, where, str(shim), monkeypatch)


def test_only_bash_and_python_blocks_run_and_a_failing_line_fails(tmp_path, monkeypatch, shim):
    page = tmp_path / "page.md"
    page.write_text("```text\nvosbench run --dataset davis17-val\n```\n\n```bash\n# comment\nvosbench list \\\n"
                    "  protocols\n```\n\n```python\nx = 1\n```\n\n```toml\nmodel = 1\n```\n")
    assert [(lang, code) for lang, _, code in examples(page)] == [
        ("bash", "# comment\nvosbench list \\\n  protocols\n"), ("python", "x = 1\n")]
    assert shell_lines(examples(page)[0][2]) == ["vosbench list    protocols"]
    assert compound("if vosbench list nothing; then\n  exit 1\nfi\n") and not compound("vosbench list models\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AssertionError, match="page.md:1: `vosbench list nothing` exited with 2"):
        run_shell_line("vosbench list nothing", "page.md:1", str(shim), monkeypatch)
    with pytest.raises(AssertionError, match="exited with 3"):
        run_shell_line("vosbench --version | grep -q . && exit 3", "page.md:1", str(shim), monkeypatch)


def test_example_run_elsewhere_is_run_there():
    marked = [p for p in pages() if RUN_ELSEWHERE in p.read_text(encoding="utf-8")]
    assert marked == [DOCS / "api" / "python.md"]
    assert 'DOCS / "api" / "python.md"' in (REPO / "tests" / "test_api.py").read_text(encoding="utf-8")


def test_every_builtin_model_dataset_and_preset_is_documented():
    """Each built-in name appears in backticks somewhere in docs/ (the tables of the models, data,
    benchmark and protocol pages); the message lists every missing name by kind."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    wanted = {
        "models": [e.spec.name for e in models.entries() if e.source == "built-in"],
        "datasets": [e.spec.name for e in datasets.entries() if e.source == "built-in"],
        "presets": list(PRESETS),
    }
    missing = {kind: [n for n in names if f"`{n}`" not in text] for kind, names in wanted.items()}
    assert not any(missing.values()), "not named in backticks anywhere in docs/: " + "; ".join(
        f"{kind}: {', '.join(names)}" for kind, names in missing.items() if names)


def test_mkdocs_build_strict(tmp_path):
    """The site builds without a warning (broken links and anchors, pages outside the navigation,
    API references that do not resolve)."""
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("mkdocs, mkdocs-material or mkdocstrings missing under CI: the test extra installs them")
        pytest.skip("the docs extra is not installed (pip install -e '.[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(REPO / "mkdocs.yml"),
                          "-d", str(tmp_path / "site")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "reference" / "index.html").read_text().count('id="vosbench.') > 10


def test_readme_is_a_short_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 150
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not target.startswith(("http://", "https://")):
            assert (REPO / target).exists(), f"README.md links to a missing file: {target}"


def test_ci_runs_the_readme_fresh_machine_commands():
    commands = [ln for ln in fresh_machine_block().splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 2
    ci = (REPO / ".ci" / "run").read_text()
    for cmd in commands:
        assert cmd.strip() in ci, f"README command not run by .ci/run: {cmd}"
