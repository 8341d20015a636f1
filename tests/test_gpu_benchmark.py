"""benchmarks/gpu.py runs end to end (its --smoke configuration, on CPU), so the GPU benchmark
cannot rot between the rare sessions that have a GPU."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_benchmark_smoke_on_cpu(tmp_path):
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--smoke", "--device", "cpu", "--keep", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for section in ("1. per-frame propagation", "2. vosbench run", "3. J&F per precision", "4. cpu (batched path) vs cpu (windowed path)"):
        assert section in text, text
    # the batched path (what a GPU runs) predicts what the naive reference and the CPU path predict
    assert re.search(r"vosbench batched .* identical pixels 100\.0000%", text), text
    assert re.search(r"4\. .*\n\s+identical predicted pixels 100\.0000%", text), text
    assert re.search(r"bf16\s+J&F\s+[\d.]+ \([+-][\d.]+ vs fp32\)", text), text
    # the generated set is the synthetic generator's, byte for byte (generated in parallel here)
    from vosbench.datasets.synthetic.layouts import generate_davis

    ref = generate_davis(tmp_path / "ref", videos=2, frames=5, size=(128, 96), seed=0)
    gen = tmp_path / "generated"
    files = sorted(p.relative_to(ref) for p in ref.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png", ".txt"))
    assert files and all((gen / f).read_bytes() == (ref / f).read_bytes() for f in files)
