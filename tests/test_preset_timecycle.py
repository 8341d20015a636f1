"""The ``timecycle`` preset against TimeCycle's DAVIS test (xiaolonw/TimeCycle ``test_davis.py``,
``models/dataset/davis_test.py``, ``models/videos/model_test.py``, ``preprocess/convert_davis.py``),
restated step by step with naive loops.

The restated steps: frames (divided by 255) squashed to cropSize x cropSize by OpenCV's bilinear
rule; the label image resized by nearest to the same square; the first frame's colours counted
in raster order (a colour's first pixel is not counted) and those counted 10 times or fewer
dropped; the one-hot maps resized by OpenCV's bilinear rule to the grid; the video padded at its
start with ``videoLen`` = 8 copies of frame 0; for every padded index from 8 on (the real frames,
frame 0 included), the context is padded frame 0 and the 7 previous padded frames; per context
frame a softmax over all its cells of cos * sqrt(512), the 5 largest weights kept, the 8 frames'
sums divided by 8; per channel min-max over the grid, written back as the frame's labels; the
output resized bilinearly to the square, arg-max, then OpenCV's INTER_NEAREST to the frame size.
Compared with the engine at cropSize 64 (an 8x8 grid) so that it runs in a second.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.support.encoders import PatchConv
from tests.support.textured import textured_video
from vosbench.core.errors import ConfigError
from vosbench.core.registry import models
from vosbench.core.video import VideoSequence
from vosbench.propagation.engine import propagate_many, propagate_vos
from vosbench.propagation.features import Timings
from vosbench.propagation.protocol import PRESETS, get_protocol
from vosbench.records.reader import LATER_SETTINGS

VIDEO_LEN = 8  # test_davis.py params['videoLen']
TOPK = 5  # run_test.sh --topk_vis 5


def first_frame_colours(lbl: np.ndarray) -> tuple[list[int], list[int]]:
    """test_davis.py's loop over frame 0's label pixels: (label set, counts)."""
    lbl_set, counts = [0], [0]
    for j in range(lbl.shape[0]):
        for k in range(lbl.shape[1]):
            v = int(lbl[j, k])
            for t in range(len(lbl_set)):
                if lbl_set[t] == v:
                    counts[t] += 1
                    break
            else:
                lbl_set.append(v)
                counts.append(0)
    return lbl_set, counts


def timecycle_loop(enc, frames: list[np.ndarray], anno0: np.ndarray, crop: int) -> list[np.ndarray]:
    """Predicted id maps of real frames 1.. at the original size, as test_davis.py + convert_davis.py."""
    g = crop // 8
    height, width = anno0.shape
    lbl0 = np.asarray(Image.fromarray(anno0).resize((crop, crop), Image.Resampling.NEAREST))
    lbl_set, counts = first_frame_colours(lbl0)
    lbl_set = [c for c, n in zip(lbl_set, counts) if n > 10]
    onehot = np.zeros((crop, crop, len(lbl_set)))
    for j in range(crop):
        for k in range(crop):
            for t, c in enumerate(lbl_set):
                if lbl0[j, k] == c:
                    onehot[j, k, t] = 1
    padded = [frames[0]] * VIDEO_LEN + frames
    lbls = [cv2.resize(onehot, (g, g)) for _ in padded]  # indices >= 8 are overwritten before use
    feats = []
    for img in padded:
        x = cv2.resize(img.astype(np.float32) / 255.0, (crop, crop))
        with torch.inference_mode():
            f = enc(torch.from_numpy(x).permute(2, 0, 1)[None])[0]
        feats.append(F.normalize(f, dim=0).numpy().astype(np.float64))
    out = []
    for it in range(len(frames)):
        p = it + VIDEO_LEN
        pred = np.zeros((g, g, len(lbl_set)))
        for c in [0, *range(it + 1, it + VIDEO_LEN)]:
            for h in range(g):
                for w in range(g):
                    sims = np.array([feats[p][:, h, w] @ feats[c][:, a, b] for a in range(g) for b in range(g)])
                    wts = np.exp(sims * 512**0.5 - (sims * 512**0.5).max())
                    wts /= wts.sum()
                    for i in np.argsort(-wts)[:TOPK]:
                        pred[h, w] += wts[i] * lbls[c][i // g, i % g]
        pred /= VIDEO_LEN
        for t in range(len(lbl_set)):
            pred[:, :, t] -= pred[:, :, t].min()
            pred[:, :, t] /= pred[:, :, t].max()
        lbls[p] = pred
        ids = np.array(lbl_set, dtype=np.uint8)[np.argmax(cv2.resize(pred, (crop, crop)), axis=-1)]
        out.append(cv2.resize(ids, (width, height), interpolation=cv2.INTER_NEAREST))
    return out[1:]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """9 frames of 100x70 (squashed to 64x64): two textured squares moving over noise, and a small
    object that is 11 pixels at 64x64 (counted 10: dropped) next to one of 12 (counted 11: kept)."""
    root = tmp_path_factory.mktemp("timecycle")

    def squares(t, yy, xx):
        a = (yy >= 8 + t) & (yy < 34 + t) & (xx >= 8 + 3 * t) & (xx < 40 + 3 * t)
        return a | ((yy >= 40) & (yy < 62) & (xx >= 60 - 2 * t) & (xx < 90 - 2 * t))

    paths, frames = textured_video(root, 9, squares, seed=3)
    yy, xx = np.mgrid[0:70, 0:100]
    anno = np.zeros((70, 100), np.uint8)
    anno[(yy >= 8) & (yy < 34) & (xx >= 8) & (xx < 40)] = 1
    anno[(yy >= 40) & (yy < 62) & (xx >= 60) & (xx < 90)] = 3
    anno[0:7, 80:83] = 2  # 7 x 3 px -> 6 rows x 2 columns at 64 x 64 (on the grid's samples) ...
    anno[0, 80] = 0  # ... less one: 11 pixels
    anno[0:7, 55:58] = 4  # 7 x 3 px -> 6 rows x 2 columns (grid cells sample rows and columns 3 and 4)
    Image.fromarray(anno).save(root / "anno.png")
    seq = VideoSequence("s", [p.stem for p in paths], paths, annotations={0: root / "anno.png"})
    return seq, frames, anno


def test_label_counting_drops_what_timecycle_drops(video):
    _, _, anno = video
    lbl0 = np.asarray(Image.fromarray(anno).resize((64, 64), Image.Resampling.NEAREST))
    lbl_set, counts = first_frame_colours(lbl0)
    kept = {c for c, n in zip(lbl_set, counts) if n > 10}
    assert dict(zip(lbl_set, counts))[2] == 10 and dict(zip(lbl_set, counts))[4] == 11
    assert kept == {0, 1, 3, 4}
    assert {c for c in lbl_set if (lbl0 == c).sum() >= PRESETS["timecycle"].min_label_pixels} == kept


ENCODER = PatchConv("patch8", 8, 16, seed=5).eval()


@pytest.fixture(scope="module")
def reference(video):
    _, frames, anno = video
    return timecycle_loop(ENCODER, frames, anno, 64)


@pytest.mark.parametrize("path", ["windowed", "batched"])
def test_timecycle_preset_equals_the_test_script(video, reference, monkeypatch, path):
    monkeypatch.setenv("VOSBENCH_PROPAGATION", path)
    seq, _, _ = video
    ours = dict(propagate_vos(seq, ENCODER, PRESETS["timecycle"].replace(size=64), torch.device("cpu"), Timings()))
    ref = reference
    assert not any((ours[t] == 2).any() for t in range(1, 9))  # the dropped object is never predicted
    assert all(np.array_equal(ours[t], ref[t - 1]) for t in range(1, 9))


@pytest.mark.parametrize("change", [{"predict_first": False}, {"minmax_feedback": False}, {"min_label_pixels": 0}])
def test_each_timecycle_step_matters(video, reference, change):
    """Without any one of the new steps the engine no longer reproduces the script on this video."""
    seq, _, _ = video
    p = PRESETS["timecycle"].replace(size=64, **change)
    ours = dict(propagate_vos(seq, ENCODER, p, torch.device("cpu"), Timings()))
    assert not all(np.array_equal(ours[t], reference[t - 1]) for t in range(1, 9))


def test_nearest_upscale_is_opencv_inter_nearest():
    from vosbench.propagation.labels import decode_labels

    rng = np.random.default_rng(0)
    soft = torch.from_numpy(rng.random((3, 40, 40)).astype(np.float32))
    p = PRESETS["timecycle"]
    for h, w in ((480, 854), (480, 910), (1080, 1920), (70, 100)):
        ours = decode_labels(soft, 320, 320, h, w, p).numpy().astype(np.uint8)
        up = F.interpolate(soft[None], size=(320, 320), mode="bilinear", align_corners=False)[0].argmax(0)
        ref = cv2.resize(up.numpy().astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        assert np.array_equal(ours, ref), (h, w)


def test_settings_defaults_and_model_default():
    p = PRESETS["timecycle"]
    assert (p.resize, p.size, p.context, p.topk, p.radius, p.mixing) == ("square", 320, 7, 5, None, "per-frame-mean")
    assert p.temperature == pytest.approx(512**-0.5) and p.pad_with_first and p.first_frame
    assert (p.minmax_feedback, p.predict_first, p.min_label_pixels, p.upscale) == (True, True, 12, "nearest")
    for name, preset in PRESETS.items():  # the new settings' defaults: every other preset unchanged
        if name not in ("timecycle", "cropmae-jhmdb"):
            new = ("minmax_feedback", "predict_first", "min_label_pixels", "keypoint_readout_topk")
            assert all(getattr(preset, k) == LATER_SETTINGS[k] for k in new), name
    assert models.get("timecycle").native_protocol == "timecycle"
    with pytest.raises(ConfigError, match="predict_first"):
        get_protocol("crw", predict_first="true")
    with pytest.raises(ConfigError, match="min_label_pixels"):
        get_protocol("crw", min_label_pixels="-1")



def test_new_steps_on_the_joint_paths_agree(tmp_path):
    """minmax_feedback and min_label_pixels also work with joint top-k mixing and a window: the CPU
    (windowed) and batched paths give the same id maps on a synthetic video."""
    from vosbench.datasets.factory import load_dataset
    from vosbench.datasets.synthetic.layouts import generate_davis

    ds = load_dataset("davis17-val", str(generate_davis(tmp_path, videos=1, frames=6, size=(120, 88), seed=5)))
    seq = ds.sequence(ds.select([])[0])
    model = ENCODER
    p = PRESETS["crw"].replace(radius=4.0, context=3, minmax_feedback=True, min_label_pixels=40)
    runs = {
        path: dict(propagate_many(seq, model, [p], torch.device("cpu"), [Timings()], path=path))
        for path in ("windowed", "batched")
    }
    assert all(np.array_equal(runs["windowed"][t][0], runs["batched"][t][0]) for t in range(len(seq)))
