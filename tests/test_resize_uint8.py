"""vosbench's restatement of OpenCV's 8-bit bilinear resize equals ``cv2.resize`` bit for bit.

DINO's ``read_frame`` resizes the uint8 frame with ``cv2.resize(img, (tw, th))`` before dividing
by 255; the ``dino`` preset does the same with :func:`resize_bilinear_uint8` (no OpenCV at run
time). ``opencv-python-headless`` is a test extra only.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vosbench.propagation.resize import resize_bilinear_uint8

cv2 = pytest.importorskip("cv2")


def test_random_sizes_up_and_down_one_and_three_channels():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w, h2, w2 = (int(v) for v in rng.integers(1, 70, 4))
        shape = (h, w, 3) if rng.random() < 0.5 else (h, w)
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(resize_bilinear_uint8(img, h2, w2), cv2.resize(img, (w2, h2))), (shape, h2, w2)


@pytest.mark.parametrize("size", [(480, 832), (240, 427), (320, 320), (512, 896), (480, 854)])
def test_real_davis_frame(davis16_mini, size):
    img = np.asarray(Image.open(davis16_mini / "JPEGImages/480p/blackswan/00000.jpg").convert("RGB"))
    got = resize_bilinear_uint8(img, *size)
    assert np.array_equal(got, cv2.resize(img, size[::-1]))
    if size == (480, 854):  # same size: a copy
        assert np.array_equal(got, img) and got is not img


def test_not_the_float_resize():
    # why it matters: a float resize of the /255 frame differs from OpenCV's integers
    import torch
    import torch.nn.functional as F

    img = np.random.default_rng(1).integers(0, 256, (48, 85, 3), dtype=np.uint8)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    flt = F.interpolate(x, size=(48, 64), mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    ours = resize_bilinear_uint8(img, 48, 64) / 255.0
    assert 0 < np.abs(flt - ours).max() <= 0.5 / 255 + 1e-6
