"""Through ``vosbench run``: every ResNet-family zoo model refuses a checkpoint of another family's
format with exit code 2 and a one-line message naming what it expected."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from tests.resnet_reference import torchvision_state_dict
from tests.test_models_ssl_resnet import moco_file, pixpro_file, simsiam_file
from tests.test_models_timecycle import timecycle_file
from tests.test_models_uvc import uvc_file
from tests.test_models_vfs import release_file
from vosbench.cli.main import cli

WRITERS = {
    "vfs": lambda p: release_file(p, 18),
    "moco": lambda p: moco_file(p, 2),
    "simsiam": simsiam_file,
    "pixpro": pixpro_file,
    "vicregl": lambda p: torch.save(torchvision_state_dict(50), p),
    "uvc": uvc_file,
    "timecycle": timecycle_file,
}
# model -> (a file of another family, the start of the message)
CASES = {
    "vfs-r50": ("uvc", "is not a VFS checkpoint"),
    "moco-v1-r50": ("simsiam", "is not a MoCo checkpoint"),
    "simsiam-r50": ("moco", "is not a SimSiam checkpoint"),
    "pixpro-r50": ("timecycle", "no 'model' entry"),
    "vicregl-r50": ("pixpro", "is not a VICRegL backbone file"),
    "uvc": ("timecycle", "is not a UVC checkpoint"),
    "timecycle": ("vfs", "is not a TimeCycle checkpoint"),
}


@pytest.mark.parametrize("model", sorted(CASES))
def test_run_refuses_another_familys_checkpoint(model, tmp_path, tiny_davis17):
    other, needle = CASES[model]
    path = tmp_path / f"{other}.pth"
    WRITERS[other](path)
    res = CliRunner().invoke(cli, ["run", "--model", model, "--checkpoint", str(path), "--dataset", "davis17-val",
                                   "--data-root", str(tiny_davis17), "--device", "cpu", "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines
