"""A third-party encoder plugin, installed with pip, is listed and built like a built-in model.

The package lives in tests/plugins/vosbench_toy_plugin (hatchling, entry point group
``vosbench.models``). It is installed into the running environment for this module only and
uninstalled afterwards. The checks run in subprocesses with plugin discovery on (the test-suite
itself sets VOSBENCH_NO_PLUGINS).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parent / "plugins" / "vosbench_toy_plugin"
DIST = "vosbench-toy-plugin"


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    )


@pytest.fixture(scope="module")
def plugin_env():
    r = _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "-q", str(PLUGIN))
    if r.returncode != 0:
        pytest.fail(f"pip install of the toy plugin failed:\n{r.stdout}\n{r.stderr}")
    env = {k: v for k, v in os.environ.items() if k != "VOSBENCH_NO_PLUGINS"}
    env["COLUMNS"] = "250"
    try:
        yield env
    finally:
        _pip("uninstall", "-y", "-q", DIST)


def _run(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)


def test_plugin_is_listed_with_its_source(plugin_env):
    vosbench_exe = Path(sys.executable).with_name("vosbench")
    r = _run(plugin_env, str(vosbench_exe), "list", "models")
    assert r.returncode == 0, r.stderr
    row = next((line for line in r.stdout.splitlines() if "toy-plugin" in line), None)
    assert row is not None, r.stdout
    assert "plugin: vosbench-toy-plugin 0.1.0" in row or "plugin: vosbench_toy_plugin 0.1.0" in row
    assert "Fixed random 8x8 patch projection" in row
    assert "crw" in r.stdout  # built-ins are still there


def test_plugin_model_is_created_and_runs(plugin_env):
    code = (
        "import json, torch, vosbench\n"
        "from vosbench.core.registry import models\n"
        "m = vosbench.create_model('toy-plugin')\n"
        "x = torch.rand(2, 3, 50, 70, generator=torch.Generator().manual_seed(0))\n"
        "f = m(x)\n"
        "g = vosbench.create_model('toy-plugin')(x)\n"
        "print(json.dumps({'shape': list(f.shape), 'stride': m.stride, 'finite': bool(torch.isfinite(f).all()),\n"
        "  'same': bool(torch.equal(f, g)), 'type': type(m).__name__, 'source': models.source('toy-plugin')}))\n"
    )
    r = _run(plugin_env, sys.executable, "-c", code)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["shape"] == [2, 16, 7, 9] and out["stride"] == 8  # ceil(50/8), ceil(70/8)
    assert out["finite"] and out["same"] and out["type"] == "ToyEncoder"
    assert out["source"].startswith("plugin: ")
