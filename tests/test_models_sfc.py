"""SFC (Alxead/SFC @c4e349a): the fine-grained network's checkpoint (``train.py``: ``{'model':
FineGrained state dict, 'optimizer', ...}``, ``online_encoder.*`` read by ``models/encoder.py``), the
late fusion of ``test_vos.py`` with MoCo-v1, and the ``sfc`` preset (README command).

Fusion, as ``test_vos.py`` writes it: ``se = normalize(se); fc = normalize(fc); feats =
normalize(cat(fc * lambd, se))``; the affinity is the dot product of these features, i.e. the
weighted sum ``(lambd^2 A_fc + A_se) / (1 + lambd^2)`` of the two cosine affinities.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import vosbench
from tests.resnet_reference import reference_layer3, torchvision_state_dict
from tests.support.cli import invoke
from tests.test_models_dinov2 import one_line_error
from tests.test_models_mast import mast_file
from tests.test_models_ssl_resnet import moco_file
from vosbench.core.errors import CheckpointError, ConfigError
from vosbench.propagation.protocol import PRESETS


def fc_file(path, seed: int = 0) -> dict:
    """train.py's file: the FineGrained model's state dict (online and target encoders with layer4,
    projectors, predictor) under 'model', plus the optimizer."""
    sd = torchvision_state_dict(18, seed=seed)
    model = {"online_encoder." + k: v for k, v in sd.items()}
    model.update({"target_encoder." + k: v + 0.3 for k, v in sd.items()})
    model["online_projector.net.0.weight"] = torch.randn(1024, 512, 1, 1)
    model["predictor.net.0.weight"] = torch.randn(1024, 256, 1, 1)
    torch.save({"model": model, "optimizer": {"state": {}, "param_groups": []}, "epoch": 9}, path)
    return sd


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sfc")
    return d, fc_file(d / "fc.pth", seed=1), moco_file(d / "moco.pth", 1, seed=2)


def test_fine_grained_network_loads_and_is_crws_stride8_layer3(files):
    d, sd, _ = files
    model = vosbench.create_model("sfc-fc-r18", checkpoint=d / "fc.pth")
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        got, want = model(x), reference_layer3(x, sd, 18)
    assert got.shape == (1, 256, 5, 7)
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()


def test_fused_features_are_test_vos_fusion(files):
    d, sd_fc, sd_se = files
    lambd = 1.75
    model = vosbench.create_model("sfc", checkpoint=d / "fc.pth", semantic=str(d / "moco.pth"))
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ours = F.normalize(model(x), dim=1)  # the engine's L2 normalisation
        fc = F.normalize(reference_layer3(x, sd_fc, 18), dim=1)
        se = F.normalize(reference_layer3(x, sd_se, 50), dim=1)
        official = F.normalize(torch.cat((fc * lambd, se), dim=1), dim=1)
    assert ours.shape == (2, 1280, 5, 7)
    assert (ours - official).abs().max().item() < 1e-5
    # the fused affinity is the weighted sum of the two cosine affinities
    a_fc = torch.einsum("chw,cxy->hwxy", fc[0], fc[1])
    a_se = torch.einsum("chw,cxy->hwxy", se[0], se[1])
    fused = torch.einsum("chw,cxy->hwxy", ours[0], ours[1])
    assert torch.allclose(fused, (lambd**2 * a_fc + a_se) / (1 + lambd**2), atol=1e-5)


def test_options_and_other_formats_are_refused(files, tmp_path):
    d, _, _ = files
    with pytest.raises(ConfigError, match="semantic=PATH"):
        vosbench.create_model("sfc", checkpoint=d / "fc.pth")
    with pytest.raises(ConfigError, match="lambd"):
        vosbench.create_model("sfc", checkpoint=d / "fc.pth", semantic=str(d / "moco.pth"), lambd="-1")
    with pytest.raises(CheckpointError, match="expected a MoCo checkpoint"):  # the parts swapped
        vosbench.create_model("sfc", checkpoint=d / "fc.pth", semantic=str(d / "fc.pth"))
    mast_file(tmp_path / "mast.pt")
    torch.save({"model": {"module.encoder.conv1.weight": torch.zeros(1), "module.projector.linear1.weight": torch.zeros(1)}},
               tmp_path / "pixpro.pth")
    for name, needle in (("mast.pt", "no 'model' entry"), ("pixpro.pth", "a PixPro checkpoint")):
        with pytest.raises(CheckpointError) as e:
            vosbench.create_model("sfc-fc-r18", checkpoint=tmp_path / name)
        assert "\n" not in str(e.value) and needle in str(e.value)


def test_run_refuses_another_format_and_runs_the_fusion(files, tmp_path, tiny_davis17):
    d, _, _ = files
    base = ("run", "--model", "sfc", "--dataset", "davis17-val", "--data-root", tiny_davis17, "--sequences", "seq0",
            "--device", "cpu", "--protocol", "native", "--out", tmp_path / "r", "--option", f"semantic={d / 'moco.pth'}",
            "--checkpoint")
    assert "expected an SFC fine-grained checkpoint" in one_line_error(invoke(*base, d / "moco.pth"))
    r = invoke(*base, d / "fc.pth")
    assert r.exit_code == 0, r.output
    assert "sfc v1" in r.output


def test_sfc_preset_is_the_readme_command():
    assert PRESETS["sfc"].settings() == PRESETS["crw"].replace(topk=15, radius=15.0, temperature=0.1).settings()
