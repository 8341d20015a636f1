"""The notebook API: vosbench.run / vosbench.evaluate, and the example of docs/api/python.md (executed as written)."""

from __future__ import annotations

import re

import pytest
import torch

import vosbench
from vosbench.core.errors import ConfigError
from vosbench.core.registry import models
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def readme_example() -> str:
    text = (DOCS / "api" / "python.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- tests/test_api.py runs this example -->\n```python\n(.*?)```", text, re.S)
    assert m, "the Python API example of docs/api/python.md is missing"
    return m.group(1)


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(readme_example(), "docs/api/python.md", "exec"), ns)
    res, mine, scores = ns["res"], ns["mine"], ns["scores"]
    assert 0 <= res.metrics["JF_mean"] <= 1 and res.record["protocol"]["topk"] == 5
    assert list(res.per_sequence["sequence"]) == ["drift-2"]
    assert mine.record["model"]["name"] == "Patchify" and mine.record["model"]["source"].startswith("python: ")
    assert "Patchify" not in models  # registered for the run only
    # evaluate() on the run's own predictions gives the run's numbers
    assert scores.metrics["JF_mean"] == pytest.approx(mine.metrics["JF_mean"], abs=1e-12)
    assert scores.per_frame["frame"].map(type).eq(str).all() and scores.per_frame["frame"].iloc[0] == "00001"
    assert set(mine.per_object.columns) >= {"sequence", "object", "JF_mean", "J_mean", "F_decay"}
    assert (tmp_path / "runs" / "synthetic-davis" / "Patchify").is_dir()


def test_plain_module_contract_is_checked():
    class NoStride(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match="needs an integer attribute `stride`"):
        vosbench.run(NoStride(), "synthetic-davis")

    class WrongShape(torch.nn.Module):
        stride = 8

        def forward(self, x):
            return x[:, :, ::4, ::4]

    with pytest.raises(ConfigError, match=r"ceil\(H/stride\)"):
        vosbench.run(WrongShape(), "synthetic-davis")
    with pytest.raises(ConfigError, match="unknown setting"):
        vosbench.run("lab", "synthetic-davis", topkk=3)


def test_encoder_instance_and_pose(tmp_path):
    enc = vosbench.create_model("lab")
    out = vosbench.run(enc, "synthetic-jhmdb", sequences="synth_walk_00", model_options=None, device="cpu", out=str(tmp_path))
    assert out.record["model"]["name"] == "lab@python"  # a module is never mistaken for the registered model
    assert "PCK@0.1" in out.metrics and {"joint", "PCK@0.1"} <= set(out.per_object.columns)
    assert set(out.per_frame.columns) >= {"video", "frame", "joint", "x", "y"}
    assert out.per_frame["frame"].iloc[0] == "00001"


def test_evaluate_stays_the_function_after_the_evaluators_are_imported(tmp_path):
    """The package vosbench.evaluate (the folder evaluators) shares the function's name; importing one of
    its modules used to replace vosbench.evaluate by the package ('module' object is not callable)."""
    import os
    import subprocess
    import sys

    code = (
        "import vosbench\n"
        "from vosbench.evaluate.davis import evaluate_folders\n"
        "import vosbench.evaluate.ytvos, vosbench.evaluate.jhmdb\n"
        "assert callable(vosbench.evaluate), vosbench.evaluate\n"
        "from vosbench import evaluate\n"
        "assert evaluate is vosbench.evaluate\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(vosbench.__file__).parents[1])}  # the vosbench under test
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
