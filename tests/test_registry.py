"""Registries, protocol presets and the model contract."""

from __future__ import annotations

import math
from importlib import metadata

import pytest
import torch

import vosbench
from vosbench.core.errors import ConfigError, DuplicatePluginError, PluginLoadError, UnknownPluginError
from vosbench.propagation.protocol import PRESETS, get_protocol
from vosbench.core.registry import Registry, datasets, models
from vosbench.core.specs import ModelSpec


def test_unknown_model_suggests_close_names_and_lists_all():
    with pytest.raises(UnknownPluginError) as e:
        models.get("resnet-18")
    msg = str(e.value)
    assert "Did you mean: resnet18" in msg and "identity" in msg and "lab" in msg


def test_duplicate_name_is_an_error():
    spec = ModelSpec(name="lab", description="x", factory="nowhere:none", stride=8, channels=1)
    with pytest.raises(DuplicatePluginError, match="registered twice"):
        models.register(spec)


def _fake_registry(monkeypatch, eps):
    monkeypatch.delenv("VOSBENCH_NO_PLUGINS", raising=False)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: [e for e in eps if e.group == group])
    return Registry("model", "vosbench.models", ModelSpec, lambda: [])


def test_entry_point_plugins_are_discovered(monkeypatch):
    ep = metadata.EntryPoint(name="mine", value="tests_plugin_module:MODEL", group="vosbench.models")
    spec = ModelSpec(name="mine", description="a plugin", factory="x:y", stride=4, channels=2)
    monkeypatch.setattr(metadata.EntryPoint, "load", lambda self: spec)
    reg = _fake_registry(monkeypatch, [ep])
    assert reg.names() == ["mine"] and reg.source("mine").startswith("plugin")


def test_broken_plugin_is_reported_by_name(monkeypatch):
    ep = metadata.EntryPoint(name="broken", value="no_such_module_xyz:MODEL", group="vosbench.models")
    reg = _fake_registry(monkeypatch, [ep])
    assert reg.names() == []
    (b,) = reg.broken()
    assert b.name == "broken" and "no_such_module_xyz" in b.error
    with pytest.raises(PluginLoadError, match="failed to load"):
        reg.get("broken")


def test_builtin_datasets_registered():
    for name in ("davis16-val", "davis17-val", "davis17-trainval", "davis17-test-dev"):
        assert name in datasets


def test_protocol_presets_resolved_settings():
    crw = PRESETS["crw"]
    assert (crw.context, crw.topk, crw.radius, crw.temperature, crw.window) == (20, 10, 12.0, 0.05, "circle")
    assert crw.first_frame and crw.pad_with_first and not crw.radius_on_first and crw.resize == "native"
    assert crw.label_downsample == "bilinear" and crw.feedback == "soft" and not crw.norm_mask
    dino = PRESETS["dino"]
    assert (dino.context, dino.topk, dino.temperature, dino.window, dino.radius_on_first) == (7, 5, 0.1, "square", True)
    # v2: DINO's uint8 OpenCV resize, one-step PIL-nearest labels, PIL-nearest up-scaling,
    # void as a label, UVC palette
    assert (dino.resize, dino.size, dino.label_downsample, dino.norm_mask) == ("short-side", 480, "pil-nearest", True)
    assert (dino.version, dino.resize_uint8, dino.upscale, dino.void_label, dino.palette) == (2, True, "pil-nearest", True, "uvc")
    cf = PRESETS["corrflow"]
    assert (cf.context, cf.first_frame, cf.topk, cf.radius, cf.window) == (1, False, None, 6.0, "square")
    assert (cf.feedback, cf.l2_normalize, cf.label_downsample, cf.resize, cf.size) == ("hard", False, "bilinear-ids", "crop", 8)
    jh = PRESETS["crw-jhmdb"]
    assert (jh.resize, jh.size, jh.context, jh.topk, jh.radius, jh.temperature) == ("square", 320, 7, 10, 12.0, 0.05)


def test_protocol_overrides_and_errors():
    p = get_protocol("crw", topk="5", radius="none", temperature="0.07")
    assert p.topk == 5 and p.radius is None and p.temperature == 0.07 and p.version == PRESETS["crw"].version
    with pytest.raises(ConfigError, match="unknown protocol setting"):
        get_protocol("crw", topkk="5")
    with pytest.raises(ConfigError, match="topk"):
        get_protocol("crw", topk="0")
    with pytest.raises(ConfigError, match="presets"):
        get_protocol("nope")


NO_CHECKPOINT = [e.spec.name for e in models.entries() if e.spec.checkpoint != "required"]


@pytest.mark.parametrize("name", NO_CHECKPOINT)
def test_model_contract(name):
    """Output shape (B, C, ceil(H/s), ceil(W/s)), channels, finite values, deterministic."""
    m1 = vosbench.create_model(name)
    m2 = vosbench.create_model(name)
    s = m1.stride
    assert s == m1.spec.stride
    x = torch.rand(2, 3, 61, 90, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        f1, f2 = m1(x), m2(x)
    assert f1.shape == (2, m1.spec.channels, math.ceil(61 / s), math.ceil(90 / s))
    assert torch.isfinite(f1).all()
    assert torch.equal(f1, f2)


def test_resnet_checkpoint_is_loaded_strictly(tmp_path):
    from torchvision.models import resnet18

    sd = resnet18(weights=None).state_dict()
    torch.save(sd, tmp_path / "r18.pth")
    enc = vosbench.create_model("resnet18", checkpoint=tmp_path / "r18.pth")
    assert torch.equal(enc.model.conv1.weight, sd["conv1.weight"])
    bad = {k: v for k, v in sd.items() if not k.startswith("layer2.")}
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(Exception, match="missing keys: layer2"):
        vosbench.create_model("resnet18", checkpoint=tmp_path / "bad.pth")


def test_every_preset_names_its_reference_and_verification():
    from click.testing import CliRunner

    from vosbench.cli.main import cli
    from vosbench.propagation.protocol import PRESET_INFO

    assert set(PRESET_INFO) == set(PRESETS)
    for name, info in PRESET_INFO.items():
        assert info.reference.strip() and info.verified.strip(), name
    out = CliRunner().invoke(cli, ["list", "protocols", "--verbose"], env={"COLUMNS": "4000"}).output
    for name in PRESETS:
        assert name in out
    assert "@047f3f4" in out and "@7c446df" in out and "@f6bd381" in out
    assert PRESETS["crw-jhmdb"].keypoints == "crw" and PRESETS["crw-jhmdb-centred"].keypoints == "centred"
