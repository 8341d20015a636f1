"""The generated videos separate good from bad propagation.

`identity` (copy frame 0) must score clearly below `lab`, and an encoder given the true
correspondences (a test plugin whose features encode which object surface point each cell shows)
must score near the ceiling that stride-8 label maps allow.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from vosbench.datasets.synthetic import generate_davis
from vosbench.datasets.synthetic.layouts import _rng
from vosbench.datasets.synthetic.scenarios import davis_scene
from vosbench.cli.main import cli
from vosbench.core.labels import read_rgb
from vosbench.core.registry import models
from vosbench.core.specs import ModelSpec
from vosbench.models.base import Encoder

SIZE, FRAMES, VIDEOS, SEED = (256, 144), 12, 2, 0


def _key(x: torch.Tensor) -> str:
    return hashlib.sha1(x.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


class TrueCorrespondenceEncoder(Encoder):
    """Looks the frame up by its pixels and returns features built from the generator's ground-truth
    correspondences: a one-hot of the surface (layer) plus a Fourier code of the texture point."""

    table: dict[str, torch.Tensor] = {}

    def forward_features(self, x):
        return torch.stack([self.table[_key(xi)] for xi in x]).to(x.device)


def true_features(coords: np.ndarray, stride: int = 8) -> torch.Tensor:
    h, w = coords.shape[:2]
    c = coords[stride // 2 :: stride, stride // 2 :: stride]  # cell centres
    layer = c[..., 0].astype(int)
    onehot = np.eye(8, dtype=np.float32)[layer] * 4.0
    freqs = np.array([1 / 64, 1 / 32, 1 / 16], dtype=np.float32)
    code = [f(c[..., k : k + 1] * freqs * 2 * np.pi) for k in (1, 2) for f in (np.cos, np.sin)]
    feats = np.concatenate([onehot, *code], axis=-1)
    return torch.from_numpy(feats).permute(2, 0, 1).contiguous()


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    return generate_davis(tmp_path_factory.mktemp("synth"), videos=VIDEOS, frames=FRAMES, size=SIZE, seed=SEED)


@pytest.fixture
def perfect_model(synth_root):
    from vosbench.propagation.engine import to_input
    from vosbench.propagation.protocol import PRESETS

    names = (synth_root / "ImageSets/2017/val.txt").read_text().split()
    table = {}
    for i, name in enumerate(names):
        scene = davis_scene(_rng("davis", SEED, i), i, SIZE[0], SIZE[1], FRAMES)
        for t in range(FRAMES):
            img = read_rgb(synth_root / "JPEGImages/480p" / name / f"{t:05d}.jpg")
            table[_key(to_input(img, PRESETS["crw"]))] = true_features(scene.render(t, image=False, coords=True).coords)
    TrueCorrespondenceEncoder.table = table
    spec = ModelSpec(
        name="test-true-correspondences",
        description="test plugin: features from the generator's true correspondences",
        factory=lambda spec, checkpoint=None, **o: TrueCorrespondenceEncoder(spec),
        stride=8,
        channels=20,
    )
    models.register(spec, source="plugin: tests")
    yield spec.name
    models.unregister(spec.name)


def jf(model: str, root, out) -> float:
    res = CliRunner().invoke(
        cli,
        ["run", "--model", model, "--dataset", "synthetic-davis", "--data-root", str(root), "--out", str(out), "--device", "cpu"],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    (run,) = list((out / "synthetic-davis" / model).iterdir())
    return json.loads((run / "summary.json").read_text())["metrics"]["JF_mean"]


def test_generated_videos_separate_good_from_bad_propagation(synth_root, perfect_model, tmp_path):
    identity = jf("identity", synth_root, tmp_path)
    lab = jf("lab", synth_root, tmp_path)
    perfect = jf(perfect_model, synth_root, tmp_path)
    print(f"J&F identity {identity:.3f}  lab {lab:.3f}  true correspondences {perfect:.3f}")
    assert identity < 0.45
    assert lab > identity + 0.2
    assert perfect > 0.85 and perfect > lab
