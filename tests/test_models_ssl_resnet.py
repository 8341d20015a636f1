"""MoCo v1/v2 and SimSiam ResNet-50: the files main_moco.py / main_simsiam.py save load strictly
(query encoder / encoder only, heads dropped) and give layer3 of a stride-8 ResNet-50."""

from __future__ import annotations

import pytest
import torch

import vosbench
from tests.resnet_reference import reference_layer3, torchvision_state_dict
from vosbench.core.errors import CheckpointError


def _frame() -> torch.Tensor:
    return torch.rand(1, 3, 52, 76, generator=torch.Generator().manual_seed(0))


def moco_file(path, version: int, seed: int = 0) -> dict:
    """{'epoch', 'arch', 'state_dict', 'optimizer'} from DistributedDataParallel(MoCo(resnet50))."""
    enc = torchvision_state_dict(50, seed=seed, fc=128 if version == 1 else None)
    if version == 2:  # the MLP head replacing fc: Sequential(Linear(2048, 2048), ReLU, Linear(2048, 128))
        enc.update({"fc.0.weight": torch.randn(2048, 2048) * 0.01, "fc.0.bias": torch.zeros(2048),
                    "fc.2.weight": torch.randn(128, 2048) * 0.01, "fc.2.bias": torch.zeros(128)})
    state = {"module.encoder_q." + k: v for k, v in enc.items()}
    state.update({"module.encoder_k." + k: v + 0.5 for k, v in enc.items()})  # the momentum encoder differs
    state["module.queue"] = torch.randn(128, 64)
    state["module.queue_ptr"] = torch.zeros(1, dtype=torch.long)
    torch.save({"epoch": 200, "arch": "resnet50", "state_dict": state, "optimizer": {"state": {}, "param_groups": []}}, path)
    return enc


def simsiam_file(path, seed: int = 0) -> dict:
    enc = torchvision_state_dict(50, seed=seed)
    head = {"fc.0.weight": (2048, 2048), "fc.1.weight": (2048,), "fc.1.bias": (2048,), "fc.3.weight": (2048, 2048),
            "fc.4.weight": (2048,), "fc.4.bias": (2048,), "fc.6.weight": (2048, 2048), "fc.6.bias": (2048,)}
    state = {"module.encoder." + k: v for k, v in enc.items()}
    state.update({"module.encoder." + k: torch.randn(*s) * 0.01 for k, s in head.items()})
    state.update({"module.predictor.0.weight": torch.randn(512, 2048), "module.predictor.3.bias": torch.zeros(2048)})
    torch.save({"epoch": 100, "arch": "resnet50", "state_dict": state, "optimizer": {}}, path)
    return enc


@pytest.mark.parametrize("name, version", [("moco-v1-r50", 1), ("moco-v2-r50", 2)])
def test_moco_query_encoder_loads_and_matches_reference(tmp_path, name, version):
    enc = moco_file(tmp_path / "moco.pth.tar", version, seed=version)
    model = vosbench.create_model(name, checkpoint=tmp_path / "moco.pth.tar")
    x = _frame()
    with torch.inference_mode():
        got, want = model(x), reference_layer3(x, enc, 50)
    assert got.shape == (1, 1024, 7, 10) == want.shape
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()


def test_simsiam_encoder_loads_and_matches_reference(tmp_path):
    enc = simsiam_file(tmp_path / "checkpoint_0099.pth.tar", seed=4)
    model = vosbench.create_model("simsiam-r50", checkpoint=tmp_path / "checkpoint_0099.pth.tar")
    x = _frame()
    with torch.inference_mode():
        got, want = model(x), reference_layer3(x, enc, 50)
    assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item()


def test_each_refuses_the_others_format_in_one_line(tmp_path):
    moco_file(tmp_path / "moco.pth.tar", 2)
    simsiam_file(tmp_path / "simsiam.pth.tar")
    cases = [
        ("simsiam-r50", "moco.pth.tar", "is not a SimSiam checkpoint", "a MoCo checkpoint (--model moco-v2-r50)"),
        ("moco-v2-r50", "simsiam.pth.tar", "is not a MoCo checkpoint", "a SimSiam checkpoint (--model simsiam-r50)"),
    ]
    for model, file, head, found in cases:
        with pytest.raises(CheckpointError) as e:
            vosbench.create_model(model, checkpoint=tmp_path / file)
        assert "\n" not in str(e.value) and head in str(e.value) and found in str(e.value)
    torch.save({"model": {"encoder.model." + k: v for k, v in torchvision_state_dict(18).items()}}, tmp_path / "crw.pth")
    with pytest.raises(CheckpointError, match="'state_dict'"):  # no state_dict entry at all
        vosbench.create_model("moco-v1-r50", checkpoint=tmp_path / "crw.pth")


def pixpro_file(path, seed: int = 0) -> dict:
    """{'opt', 'model', 'optimizer', 'scheduler', 'epoch'} of DistributedDataParallel(PixPro(resnet50))."""
    import argparse

    enc = torchvision_state_dict(50, seed=seed)
    state = {"module.encoder." + k: v for k, v in enc.items()}
    state.update({"module.encoder_k." + k: v - 0.5 for k, v in enc.items()})
    state["module.projector.linear1.weight"] = torch.randn(4096, 2048) * 0.01
    state["module.featprop.transform.weight"] = torch.randn(256, 256, 1, 1)
    torch.save({"opt": argparse.Namespace(arch="resnet50"), "model": state, "optimizer": {}, "scheduler": {}, "epoch": 400}, path)
    return enc


def test_pixpro_and_vicregl_load_and_match_reference(tmp_path):
    enc = pixpro_file(tmp_path / "ckpt_epoch_400.pth", seed=6)
    vic = torchvision_state_dict(50, seed=7)  # resnet50_alpha0.9.pth: flat, no fc (VICRegL's hubconf loads it strictly)
    torch.save(vic, tmp_path / "resnet50_alpha0.9.pth")
    x = _frame()
    for name, file, sd in (("pixpro-r50", "ckpt_epoch_400.pth", enc), ("vicregl-r50", "resnet50_alpha0.9.pth", vic)):
        model = vosbench.create_model(name, checkpoint=tmp_path / file)
        with torch.inference_mode():
            got, want = model(x), reference_layer3(x, sd, 50)
        assert (got - want).abs().max().item() <= 1e-4 * want.abs().max().item(), name


def test_pixpro_and_vicregl_refuse_other_formats_in_one_line(tmp_path):
    pixpro_file(tmp_path / "pixpro.pth")
    torch.save(torchvision_state_dict(50, fc=1000), tmp_path / "resnet50-0676ba61.pth")
    simsiam_file(tmp_path / "simsiam.pth.tar")
    cases = [
        ("vicregl-r50", "resnet50-0676ba61.pth", "a torchvision ImageNet classifier (--model resnet18-imagenet or resnet50-imagenet)"),
        ("simsiam-r50", "pixpro.pth", "no 'state_dict' entry"),
        ("pixpro-r50", "simsiam.pth.tar", "no 'model' entry"),
    ]
    for model, file, needle in cases:
        with pytest.raises(CheckpointError) as e:
            vosbench.create_model(model, checkpoint=tmp_path / file)
        assert "\n" not in str(e.value) and needle in str(e.value), str(e.value)
    torch.save({"model": torch.load(tmp_path / "pixpro.pth", weights_only=False)["model"]}, tmp_path / "pixpro-model.pth")
    with pytest.raises(CheckpointError, match="a PixPro checkpoint"):
        vosbench.create_model("vicregl-r50", checkpoint=tmp_path / "pixpro-model.pth")
