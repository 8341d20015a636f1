"""Datasets resized before evaluation: frames, input annotations and ground truth at one size.

CropMAE and RSP evaluate DAVIS on a copy resized to 480x880 and score against that copy's
ground truth (``Protocol.gt_size``). :class:`RescaledSequence` is that copy, made on the fly: a
sequence whose frames and label maps come back at H x W, so that propagation, the written PNGs
and J&F all see the resized video, as in those scripts. The two rules (``Protocol.gt_resize``):

* ``pil-nearest``: frames and label maps by PIL's ``Image.NEAREST`` (RSP's
  ``data_preprocessing/eval/davis_preprocessing.py``);
* ``cv2``: frames by OpenCV's bilinear rule on the 8-bit image, label maps by OpenCV's
  ``INTER_NEAREST`` (source index ``floor(x * in / out)``), as CropMAE's
  ``downstreams/propagation/src/data/vos.py`` resizes a frame and its label of another size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vosbench.core.errors import ConfigError
from vosbench.core.video import VideoSequence
from vosbench.propagation.protocol import Protocol
from vosbench.propagation.resize import resize_bilinear_uint8


def cv2_nearest(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV's ``INTER_NEAREST`` resize: output pixel x takes source ``min(floor(x * W / W'), W - 1)``
    per axis (the scale computed as OpenCV does, ``1 / (W' / W)`` in double)."""
    h, w = img.shape[:2]

    def index(dst: int, src: int) -> np.ndarray:
        scale = 1.0 / (float(dst) / float(src))
        return np.minimum(np.floor(np.arange(dst) * scale).astype(np.int64), src - 1)

    return np.ascontiguousarray(img[index(height, h)][:, index(width, w)])


def pil_nearest_array(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """PIL's ``Image.NEAREST`` resize of a uint8 (H, W) or (H, W, 3) array."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((width, height), Image.Resampling.NEAREST))


def resize_frame(img: np.ndarray, height: int, width: int, rule: str) -> np.ndarray:
    if img.shape[:2] == (height, width):
        return img
    if rule == "cv2":
        return resize_bilinear_uint8(img, height, width)
    return pil_nearest_array(img, height, width)


def resize_labels(ids: np.ndarray, height: int, width: int, rule: str) -> np.ndarray:
    if ids.shape[:2] == (height, width):
        return ids
    return cv2_nearest(ids, height, width) if rule == "cv2" else pil_nearest_array(ids, height, width)


@dataclass
class RescaledSequence(VideoSequence):
    """``source`` with every frame and label map resized to ``size`` (H, W) by ``rule``."""

    source: VideoSequence | None = None
    size: tuple[int, int] = (0, 0)
    rule: str = "pil-nearest"

    def _src(self) -> VideoSequence:
        assert self.source is not None
        return self.source

    def read_image(self, i: int) -> np.ndarray:
        return resize_frame(self._src().read_image(i), *self.size, self.rule)

    def read_annotation(self, i: int) -> np.ndarray:
        return resize_labels(self._src().read_annotation(i), *self.size, self.rule)

    def read_gt(self, i: int) -> np.ndarray:
        return resize_labels(self._src().read_gt(i), *self.size, self.rule)


def rescaled(seq: VideoSequence, protocol: Protocol) -> VideoSequence:
    """``seq`` as ``protocol.gt_size`` says: itself (native) or a :class:`RescaledSequence`."""
    hw = protocol.gt_hw()
    if hw is None:
        return seq
    fields = {f.name: getattr(seq, f.name) for f in dataclasses.fields(VideoSequence)}
    return RescaledSequence(**fields, source=seq, size=hw, rule=protocol.gt_resize)


def rescale_sequences(seqs: list[VideoSequence], protocols: list[Protocol], task: str) -> list[VideoSequence]:
    """The run's sequences under its protocols' ``gt_size`` (every grid point has the same one)."""
    sizes = {(p.gt_size, p.gt_resize) for p in protocols}
    if len(sizes) > 1:
        raise ConfigError("gt_size and gt_resize must be the same at every grid point of a run")
    if protocols[0].gt_hw() is None:
        return seqs
    if task != "vos":
        raise ConfigError(
            f"protocol setting gt_size={protocols[0].gt_size} (scoring against resized ground truth) is for "
            f"segmentation datasets; this dataset's task is {task!r}: use --set gt_size=native"
        )
    if seqs and not any(s.gt for s in seqs):
        raise ConfigError(
            f"protocol setting gt_size={protocols[0].gt_size} scores against resized ground truth, and these "
            "sequences have none (a server-evaluated split?): use --set gt_size=native"
        )
    return [rescaled(s, protocols[0]) for s in seqs]
