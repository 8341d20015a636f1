"""The synthetic VIP_Fine set: a textured figure (the JHMDB stick figure of
:mod:`vosbench.datasets.synthetic.figure`) whose body parts are labelled with VIP classes.

Written like the other synthetic sets (:mod:`vosbench.datasets.synthetic.layouts`: deterministic,
byte-identical for the same arguments, a stamp file last); registered with
:func:`vosbench.datasets.synthetic.cache.ensure_generated` as kind ``vip``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from vosbench.datasets.synthetic.figure import ACTIONS, PARTS
from vosbench.datasets.synthetic.layouts import (
    DEFAULTS,
    _image,
    _jpeg,
    _prepare,
    _put,
    _rng,
    _write_stamp,
    normalize_params,
)
from vosbench.datasets.synthetic.scenarios import jhmdb_scene


#: VIP class id of each body part of the synthetic figure (class names: vosbench.scoring.parsing.CLASSES)
VIP_PART_CLASS = {
    "torso": 4,  # upper-clothes
    "head": 13,  # face
    "right_upper_arm": 14, "right_forearm": 14,  # right-arm
    "left_upper_arm": 15, "left_forearm": 15,  # left-arm
    "right_thigh": 8, "left_thigh": 8,  # pants
    "right_shin": 16, "left_shin": 17,  # right-leg, left-leg
}  # fmt: skip
#: VIP annotates one frame in 25; its frames are named by their number in the video
VIP_STEP = 25
#: time between two annotated frames of a synthetic video, in the figure's frames
_VIP_TIME_STEP = 2


def generate_vip(
    out: str | Path,
    videos: int = DEFAULTS["vip"]["videos"],
    frames: int = DEFAULTS["vip"]["frames"],
    size: tuple[int, int] = DEFAULTS["vip"]["size"],
    seed: int = DEFAULTS["vip"]["seed"],
) -> Path:
    """Write a VIP_Fine-layout set: a textured figure walking, waving or squatting, with a part map.

    Video ``i`` is named ``videos<i + 1>`` (as VIP's) and does action ``("walk", "wave",
    "squat")[i % 3]``; consecutive annotated frames are two of the figure's frames apart (VIP's are
    25 video frames apart). Files written:

    * ``Images/<video>/<n:012d>.jpg``: RGB JPEG frames, ``n = 25 k`` for the k-th annotated frame;
    * ``Annotations/Category_ids/<video>/<n:012d>.png``: greyscale PNG of VIP class ids, one per
      frame (0 background, 4 upper-clothes = torso, 13 face = head, 14/15 right/left arm, 8 pants
      = thighs, 16/17 right/left leg = shins);
    * ``lists/val_videos.txt`` (video names, one per line) and an empty ``lists/train_videos.txt``;
    * ``vosbench_synthetic.json`` (generator version and arguments).

    Args:
        out: Output folder (created).
        videos: Number of videos.
        frames: Annotated frames per video (>= 2).
        size: (width, height) in pixels.
        seed: Random seed.

    Returns:
        The output folder.
    """
    p = normalize_params("vip", {"videos": videos, "frames": frames, "size": size, "seed": seed})
    out = _prepare(out)
    (w, h), n = p["size"], p["frames"]
    lut = np.zeros(256, np.uint8)
    for i, part in enumerate(PARTS):
        lut[i + 1] = VIP_PART_CLASS[part]  # the figure's limbs are labelled 1.. in PARTS order
    names = []
    for i in range(p["videos"]):
        name = f"videos{i + 1}"
        names.append(name)
        action = ACTIONS[i % len(ACTIONS)]
        scene = jhmdb_scene(_rng("vip", p["seed"], i), action, w, h, _VIP_TIME_STEP * (n - 1) + 1)
        for k in range(n):
            frame = scene.render(_VIP_TIME_STEP * k)
            stem = f"{VIP_STEP * k:012d}"
            _put(out / "Images" / name / f"{stem}.jpg", _jpeg(_image(frame.image)))
            _put(out / "Annotations" / "Category_ids" / name / f"{stem}.png", _grey_png(lut[frame.labels]))
    lists = out / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "val_videos.txt").write_text("".join(f"{v}\n" for v in names))
    (lists / "train_videos.txt").write_text("")
    _write_stamp(out, "vip", p)
    return out


def _grey_png(ids: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(ids, mode="L").save(buf, format="PNG", optimize=False)
    return buf.getvalue()
