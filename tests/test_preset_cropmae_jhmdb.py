"""The ``cropmae-jhmdb`` preset against CropMAE's JHMDB evaluation (alexandre-eymael/CropMAE
``downstreams/propagation``: ``util.py`` defaults, ``src/test.py``, ``src/data/jhmdb.py``,
``src/utils/test_utils.py:process_pose``, ``src/eval/eval_pck.py``).

CropMAE's scripts are CRW's JHMDB pipeline with other values (temperature 0.7, top-7, radius 20,
20 previous frames, 320x320) and a read-out over the top-5 cells instead of CRW's top-3; the
read-out is restated here with ``topk=5`` on hand-made maps (ties and an empty channel included).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import vosbench.propagation.keypoints as keypoints
from tests.support import cli as support_cli
from tests.test_crw_jhmdb import crw_maps, crw_process_pose, keypoints as hand_made
from vosbench.core.errors import ConfigError
from vosbench.propagation.keypoints import crw_soft_argmax
from vosbench.propagation.protocol import PRESETS, get_protocol


def test_settings_are_cropmaes():
    p = PRESETS["cropmae-jhmdb"]
    assert (p.resize, p.size, p.context, p.topk, p.radius, p.temperature) == ("square", 320, 20, 7, 20.0, 0.7)
    assert (p.keypoints, p.keypoint_readout_topk, p.first_frame, p.pad_with_first) == ("crw", 5, True, True)
    assert PRESETS["crw-jhmdb"].keypoint_readout_topk == 3  # CRW's process_pose default
    with pytest.raises(ConfigError, match="keypoint_readout_topk"):
        get_protocol("crw-jhmdb", keypoint_readout_topk="0")


def test_top5_readout_is_process_pose_with_topk_5():
    gt_maps = crw_maps(hand_made(1).transpose(2, 1, 0))
    rng = np.random.default_rng(4)
    soft = gt_maps.clone()
    soft[1:, :, :, 1:] += torch.from_numpy(rng.uniform(0, 0.3, soft[1:, :, :, 1:].shape).astype(np.float32))
    soft[2, :, :, 7] = 0  # an empty channel
    soft[3, :, :, 8] = 0  # exact ties among the top 5
    soft[3, 10, 10, 8] = soft[3, 10, 11, 8] = soft[3, 11, 10, 8] = soft[3, 30, 30, 8] = soft[3, 5, 5, 8] = 0.5
    soft[3, 20, 20, 8] = 0.5
    for maps in (gt_maps, soft):
        for t in range(maps.shape[0]):
            ref = crw_process_pose(maps[t].clone(), topk=5).numpy()
            ours = crw_soft_argmax(maps[t].permute(2, 0, 1)[1:], 5)
            none = ref[0] < 0
            assert np.array_equal(none, np.isnan(ours[:, 0]))
            assert np.abs(ours[~none] - ref.T[~none]).max() <= 1e-9
    assert not np.allclose(crw_soft_argmax(soft[1].permute(2, 0, 1)[1:], 5), crw_soft_argmax(soft[1].permute(2, 0, 1)[1:], 3))


def test_run_reads_out_with_the_presets_topk_and_records_it(tmp_path, monkeypatch):
    seen: list[int] = []
    real = keypoints.crw_soft_argmax

    def spy(maps: torch.Tensor, k: int = 3) -> np.ndarray:
        seen.append(k)
        return real(maps, k)

    monkeypatch.setattr(keypoints, "crw_soft_argmax", spy)
    data, runs = tmp_path / "jhmdb", tmp_path / "runs"
    support_cli.invoke("data", "synth", "jhmdb", "--out", str(data), "--videos", "1", "--frames", "3", code=0)
    support_cli.invoke("run", "--model", "lab", "--dataset", "synthetic-jhmdb", "--data-root", str(data), "--out",
                       str(runs), "--device", "cpu", "--protocol", "cropmae-jhmdb", code=0, catch_exceptions=False)
    (run_dir,) = list((runs / "synthetic-jhmdb" / "lab").iterdir())
    rec = json.loads((run_dir / "summary.json").read_text())
    assert rec["protocol"]["name"] == "cropmae-jhmdb" and rec["protocol"]["keypoint_readout_topk"] == 5
    assert seen and set(seen) == {5}
