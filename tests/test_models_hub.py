"""``--model timm:<name>`` and ``--model hf:<id or folder>``: offline, random-init or locally saved weights.

References are the libraries' own forward passes on the cropped frame (timm ``forward_features``,
transformers ``last_hidden_state``), prefix tokens dropped: vosbench must read the same tokens and only
add the patch-multiple handling it records.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

import vosbench
from vosbench.core.errors import ConfigError
from tests.test_models_dinov2 import one_line_error, run_cli

timm = pytest.importorskip("timm")  # both are in the `test` extra, so CI runs these
transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def frame(h: int = 100, w: int = 150) -> torch.Tensor:
    return torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))


def test_timm_vit_from_a_state_dict_equals_timm_forward(tmp_path):
    ref = timm.create_model("vit_tiny_patch16_224", pretrained=False, dynamic_img_size=True).eval()
    with torch.no_grad():
        for p in ref.parameters():  # non-trivial norms and biases
            p.add_(0.05 * torch.randn_like(p))
    torch.save({"state_dict": ref.state_dict()}, tmp_path / "w.pth")
    enc = vosbench.create_model("timm:vit_tiny_patch16_224", tmp_path / "w.pth")
    x = frame()  # 100x150: 6x9 patches after cropping to 96x144
    with torch.inference_mode():
        got = enc(x)
        tokens = ref.forward_features(enc.normalize(x)[..., :96, :144])[:, ref.num_prefix_tokens :]
    want = tokens.transpose(1, 2).reshape(2, 192, 6, 9)
    assert got.shape == (2, 192, 7, 10)  # ceil grid: the cropped strip repeats the edge tokens
    assert (got[..., :6, :9] - want).abs().max().item() <= 1e-5
    assert torch.equal(got[..., 6, :], got[..., 5, :]) and torch.equal(got[..., :, 9], got[..., :, 8])
    assert enc.feature_info["layer"] == "blocks.11 (index 11 of 12) + final norm, patch tokens"
    assert enc.feature_info["weights"] == "checkpoint file"


def test_timm_cnn_layer_sets_stride_and_channels():
    enc = vosbench.create_model("timm:resnet18", pretrained=False, layer="layer3")
    assert (enc.stride, enc.spec.channels, enc.spec.input_multiple) == (16, 256, 16)
    assert enc(frame()).shape == (2, 256, 7, 10)
    with pytest.raises(ConfigError, match="layer 'layer9' is not one of act1, layer1"):
        vosbench.create_model("timm:resnet18", pretrained=False, layer="layer9")


def save_hf_dinov2(path, registers: int = 4):
    cfg = transformers.Dinov2WithRegistersConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                                                 intermediate_size=96, patch_size=14, image_size=518,
                                                 num_register_tokens=registers)
    torch.manual_seed(0)
    net = transformers.Dinov2WithRegistersModel(cfg).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    net.save_pretrained(path)
    return net


def test_hf_folder_equals_last_hidden_state(tmp_path):
    net = save_hf_dinov2(tmp_path / "hf")
    enc = vosbench.create_model(f"hf:{tmp_path / 'hf'}")
    x = frame()  # cropped to 98x140: 7x10 patches
    with torch.inference_mode():
        got = enc(x)
        out = net(pixel_values=enc.normalize(x)[..., :98, :140], interpolate_pos_encoding=True)
    want = out.last_hidden_state[:, 5:].transpose(1, 2).reshape(2, 48, 7, 10)
    assert got.shape == (2, 48, 8, 11)
    assert (got[..., :7, :10] - want).abs().max().item() <= 1e-5


def test_hf_and_timm_run_end_to_end_offline_and_record_the_read(tmp_path):
    save_hf_dinov2(tmp_path / "hf")
    for model, opts in ((f"hf:{tmp_path / 'hf'}", ["--option", "layer=0"]), ("timm:vit_tiny_patch16_224", ["--option", "pretrained=false"])):
        r = run_cli("--model", model, *opts, "--no-save-predictions", "--out", tmp_path / "runs")  # 240x432 frames: not multiples of 14 or 16
        assert r.exit_code == 0, r.output
    recs = {json.loads(p.read_text())["model"]["name"]: json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("summary.json")}
    # a hub id or folder with '/' is one folder below the dataset's (not nested, never outside --out)
    assert {p.parent.parent.name for p in (tmp_path / "runs").rglob("summary.json")} == {
        "hf:" + str(tmp_path / "hf").replace("/", "--"), "timm:vit_tiny_patch16_224"}
    hf = recs[f"hf:{tmp_path / 'hf'}"]["model"]["features"]
    assert hf["layer"].startswith("hidden_states[1] (layer 0 of 2)") and hf["stride"] == 14 and hf["patch_fit"] == "crop"
    tm = recs["timm:vit_tiny_patch16_224"]["model"]["features"]
    assert tm["stride"] == 16 and tm["patch_fit"] == "crop" and tm["weights"] == "random init (seed 0)"


def test_missing_library_and_unknown_names_are_one_line_errors(tmp_path, monkeypatch):
    line = one_line_error(run_cli("--model", "timm:no_such_model_xyz", "--out", tmp_path / "runs"))
    assert "timm cannot build 'no_such_model_xyz'" in line
    monkeypatch.setitem(sys.modules, "timm", None)  # as if not installed: importing it raises ImportError
    line = one_line_error(run_cli("--model", "timm:resnet34", "--out", tmp_path / "runs"))
    assert "needs the optional package 'timm': pip install 'vosbench[timm]'" in line


def test_timm_dinov2_equals_the_hub_model_only_at_518(tmp_path):
    """timm's non-register DINOv2 resizes positional embeddings by size, the hub model with the 0.1 offset."""
    from tests.test_models_dinov2 import hub_state_dict

    sd = {k: v.float() for k, v in hub_state_dict(384, 12, 0, seed=2).items()}
    torch.save(sd, tmp_path / "hub.pth")
    hub = vosbench.create_model("dinov2-vits14", tmp_path / "hub.pth")
    torch.save({k: v for k, v in sd.items() if k != "mask_token"}, tmp_path / "timm.pth")
    tm = vosbench.create_model("timm:vit_small_patch14_dinov2", tmp_path / "timm.pth")
    with torch.inference_mode():
        same = (hub(frame(518, 518)[:1]) - tm(frame(518, 518)[:1])).abs().max().item()
        apart = (hub(frame(238, 420)[:1]) - tm(frame(238, 420)[:1])).abs().max().item()
    assert same <= 1e-4 and apart > 1e-2, (same, apart)
