"""Propagation protocols: every setting that changes a number, as one frozen, versioned record.

The presets restate the published evaluation scripts (see the README's protocol table):

* ``crw``: CRW ``test.py`` with the settings of the CRW README (native resolution, first frame +
  20 previous frames, Euclidean radius 12 cells not applied to the first frame, top-10,
  temperature 0.05, bilinear soft one-hot labels, soft labels fed back). Like CRW, the previous-
  frame context is padded with copies of frame 0 while fewer than 20 frames precede the target.
* ``crw-jhmdb``: CRW's JHMDB pipeline (``test.py`` + ``data/jhmdb.py`` + ``eval/eval_pck.py``): the
  same propagation on 320x320 inputs with 7 previous frames, keypoint maps, read-out, mapping back
  and PCK visibility exactly as CRW's scripts (``keypoints="crw"``, see
  :mod:`vosbench.propagation.keypoints`). The preset to compare with published JHMDB rows.
* ``crw-jhmdb-centred``: the same propagation with vosbench's sub-cell keypoint encoding, cell-
  centre decoding and GT-based PCK visibility (``keypoints="centred"``). Not CRW's protocol.
* ``dino``: DINO ``eval_video_segmentation.py`` (short side 480, long side floored to a multiple
  of 64, the 8-bit frame resized with OpenCV's bilinear rule before /255, first frame + 7
  previous, square +/-12 window applied to every frame, top-5, T = 0.1, first-frame labels PIL-
  nearest in one step to the feature grid with void (255) as its own label, per-channel min-max
  before the arg-max, PIL-nearest up-scaling to the original size, UVC's palette).
* ``crw-vip``, ``uvc-vip``: CRW's and UVC's VIP settings (560x560 frames; CRW: 4 previous frames,
  PIL-nearest to the ground truth's size as its ``eval_vip.py`` resizes; UVC: 1 previous frame).
* ``corrflow``: CorrFlow ``test.py`` (frames cropped to a multiple of 8, previous frame only,
  13x13 window, softmax over raw dot products, labels are the bilinearly down-sampled *id map*
  cast to integers, hard arg-max fed back).

A preset's ``version`` is bumped whenever one of its defaults changes, so records made under
different defaults are never compared as equals. :data:`PRESET_INFO` says, per preset, which
official script it restates (``reference``) and how closely that was checked (``verified``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from vosbench.core.errors import ConfigError
from vosbench.propagation.preset_info import PRESET_INFO, PresetInfo  # noqa: F401 (re-exported)
from vosbench.propagation.zoo_presets import ZOO_PRESETS

RESIZE_MODES = ("native", "square", "short-side", "crop", "short-side-up")
WINDOWS = ("circle", "square")
LABEL_DOWNSAMPLE = ("bilinear", "nearest", "pil-nearest", "bilinear-ids", "nearest-grid", "subsample")
FEEDBACK = ("soft", "hard")
UPSCALE = ("nearest-exact", "pil-nearest", "grid-nearest", "nearest")
PALETTES = ("davis", "uvc")
KEYPOINTS = ("crw", "centred")
#: Valid softmax temperatures: similarities are divided by T in fp32, so a T far below 1e-6 or
#: above 1e6 only adds overflow (T = 1e-50 turns every weight into NaN) without changing the result.
TEMPERATURE_RANGE = (1e-6, 1e6)
#: At most this many previous frames in the context (each is kept in memory as features and labels).
MAX_CONTEXT = 1000
#: Largest ``size`` a resize mode takes (pixels).
MAX_SIZE = 16384
MIXING = ("joint", "per-frame-mean")
#: How ``gt_size`` resizes: ``pil-nearest`` (frames and label maps by PIL's nearest rule, RSP's
#: ``davis_preprocessing.py``) or ``cv2`` (frames by OpenCV's bilinear rule, label maps by OpenCV's
#: ``INTER_NEAREST``, CropMAE's ``vos.py`` loader).
GT_RESIZE = ("pil-nearest", "cv2")
TRACKERS = ("nn", "propagate")
REFERENCES = ("recent", "mast")
BORDERS = ("drop", "zeros")


@dataclass(frozen=True)
class Protocol:
    """All settings of k-NN label propagation.

    Attributes:
        name: Preset it was derived from.
        version: Preset version (changes whenever a default changes).
        resize: ``native`` (as is), ``square`` (``size`` x ``size``, aspect not kept),
            ``short-side`` (short side = ``size``, long side floored to a multiple of 64, DINO),
            ``crop`` (right/bottom cropped to a multiple of ``size``, CorrFlow),
            ``short-side-up`` (short side ``size`` and long side scaled, each rounded *up* to a
            multiple of 16, the 8-bit frame resized by PIL's bicubic rule: DINOv3's notebook).
        size: Parameter of ``resize`` (ignored for ``native``).
        context: Number of previous frames used as context.
        first_frame: Whether frame 0 (with its ground-truth labels) is always in the context.
        pad_with_first: CRW's padding: while t < context, the missing previous frames are copies
            of frame 0 (each copy counts as a separate candidate in the top-k).
        first_in_window: Frame 0 also counts as one of the ``context`` previous frames while it is
            among them, without padding (VFS: the keys of frame t are frame 0 plus frames
            max(0, t - context) .. t - 1, so frame 0 is there twice while t <= context). Implied
            by ``pad_with_first``; with both off frame 0 is only the long-term frame (DINO).
        radius: Locality in feature cells; ``None`` = unrestricted.
        window: ``circle`` (Euclidean distance < radius, CRW) or ``square`` (|dx|, |dy| <= radius).
        radius_on_first: Whether the locality also applies to the first frame.
        topk: Keep the k best candidates over all context frames jointly; ``None`` = all.
        temperature: Softmax temperature on the similarities.
        l2_normalize: Cosine similarity (``True``) or raw dot product (``False``).
        label_downsample: How label maps reach feature resolution: ``bilinear`` on the one-hot
            maps (soft labels), ``nearest`` (hard one-hot; torch ``nearest-exact``, original ->
            processed frame -> feature grid), ``pil-nearest`` (hard one-hot; PIL nearest in one
            step from the original id map to the feature grid, DINO), ``bilinear-ids`` (bilinear
            on the integer id map, truncated to integers, then one-hot; CorrFlow), ``nearest-grid``
            (torch ``nearest-exact`` in one step from the original id map to the grid, DINOv3),
            ``subsample`` (the pixel at (s*y, s*x), s = the stride: MAST's ``[::4, ::4]``).
        feedback: ``soft``: a frame's propagated soft labels are its context labels; ``hard``: its
            arg-maxed full-resolution prediction, down-sampled again.
        norm_mask: Per-channel min-max normalisation of the up-sampled soft labels before arg-max.
        resize_uint8: Resize the 8-bit frame (OpenCV's fixed-point bilinear rule) and only then
            divide by 255, as DINO's ``read_frame``; ``False``: divide first, resize in float.
        upscale: From the processed to the original frame size: ``nearest-exact`` (torch) or
            ``pil-nearest`` (PIL, as DINO; the two pick different columns at rounding ties);
            ``grid-nearest``: no bilinear step at all, the soft labels go from the feature grid
            straight to the original size by torch's legacy ``nearest`` (DINOv3's notebook; done
            as min-max and arg-max on the grid, then the ids up-sampled, which is the same);
            ``nearest``: bilinear to the processed size, arg-max, then torch's legacy ``nearest``
            (source pixel floor(x * in / out), OpenCV's ``INTER_NEAREST``: TimeCycle's ``convert_davis.py``).
        void_label: Void (255) in an input annotation is a label of its own, propagated like an
            object and written back as 255 (DINO's one-hot has a channel for every value up to
            the largest); ``False``: void is background.
        palette: Colours of the written prediction PNGs: ``davis`` (PASCAL VOC) or ``uvc`` (UVC's
            ``palette.txt``, which DINO downloads). Changes no number.
        mixing: ``joint``: the top-k over all context frames together, softmax over the kept
            scores; ``per-frame-mean`` (UVC's ``test.py``): per context frame a softmax over all
            its cells, the weights below the frame's k-th largest set to 0 (not renormalised),
            the frames' results averaged (segmentation runs only; no locality).
        keypoints: Keypoint label maps, read-out and PCK visibility (keypoint datasets only):
            ``crw`` (CRW's scripts exactly) or ``centred`` (sub-cell Gaussians, cell centres,
            GT visibility); see :mod:`vosbench.propagation.keypoints`.
        gt_size: ``native``, or ``<H>x<W>`` (e.g. ``480x880``): every frame, input annotation and
            ground-truth map is resized to H x W before anything else, and the run is scored
            against the *resized* ground truth (CropMAE's and RSP's DAVIS evaluation). Records and
            leaderboards keep such runs apart from native-size ones (benchmark ``<dataset>@HxW``).
        gt_resize: The rule of that resize, one of :data:`GT_RESIZE`.
        tracker: Point tracking (TAP-Vid datasets only): ``nn`` (each query's feature matched to
            every frame) or ``propagate`` (a Gaussian heatmap per query propagated by the k-NN
            engine); see :mod:`vosbench.propagation.points`.
        occlusion_threshold: Point tracking: a point is predicted occluded where its confidence
            (``nn``: the best cosine similarity; ``propagate``: the propagated heatmap's peak) is
            below this; ``None`` = every point predicted visible.
        references: ``recent`` (the last ``context`` frames) or ``mast`` (MAST's: frame 5 once passed and
            ``context`` previous frames two apart from t-1, each once; frame 0 via ``first_frame``).
        border: Window positions beyond the frame: ``drop``, or ``zeros`` (candidates of similarity 0
            without label: MAST's zero padding; square window, no top-k, joint mixing only).
        align_corners: Bilinear label down-sampling and soft-label up-sampling with ``align_corners=True`` (DUL).
        minmax_feedback: Per-channel min-max normalisation of each propagated frame's labels on the
            feature grid; the normalised labels are both fed back as context and decoded (TimeCycle).
        predict_first: Frame 0 is also predicted, from its padded context (copies of itself), and that
            prediction is its label as a previous frame; its annotation stays the long-term frame's and
            the padding's labels (TimeCycle; needs ``pad_with_first``, soft feedback and per-frame-mean
            mixing: a joint top-k would have to break exact ties between frame 0's two label sets).
        min_label_pixels: An object covering fewer pixels than this in the first annotated frame, at
            the processed size, is dropped (its channel is 0 from the start; objects annotated later
            are kept); 0 keeps every object.
        keypoint_readout_topk: Keypoint runs: the read-out's soft-argmax over the top-k cells per joint.
    """

    name: str = "crw"
    version: int = 1
    resize: str = "native"
    size: int = 0
    context: int = 20
    first_frame: bool = True
    pad_with_first: bool = True
    first_in_window: bool = False
    radius: float | None = 12.0
    window: str = "circle"
    radius_on_first: bool = False
    topk: int | None = 10
    temperature: float = 0.05
    l2_normalize: bool = True
    label_downsample: str = "bilinear"
    feedback: str = "soft"
    norm_mask: bool = False
    resize_uint8: bool = False
    upscale: str = "nearest-exact"
    void_label: bool = False
    palette: str = "davis"
    keypoints: str = "crw"
    mixing: str = "joint"
    gt_size: str = "native"
    gt_resize: str = "pil-nearest"
    tracker: str = "propagate"
    occlusion_threshold: float | None = None
    references: str = "recent"
    border: str = "drop"
    align_corners: bool = False
    minmax_feedback: bool = False
    predict_first: bool = False
    min_label_pixels: int = 0
    keypoint_readout_topk: int = 3

    def __post_init__(self) -> None:
        def bad(field: str, why: str) -> ConfigError:
            return ConfigError(f"protocol setting {field}={getattr(self, field)!r} is invalid: {why}")

        if self.resize not in RESIZE_MODES:
            raise bad("resize", f"expected one of {', '.join(RESIZE_MODES)}")
        if self.resize != "native" and not 0 < self.size <= MAX_SIZE:
            raise bad("size", f"resize={self.resize!r} needs a size from 1 to {MAX_SIZE}")
        for field, allowed in (("window", WINDOWS), ("label_downsample", LABEL_DOWNSAMPLE), ("feedback", FEEDBACK),
                               ("upscale", UPSCALE), ("palette", PALETTES), ("keypoints", KEYPOINTS), ("mixing", MIXING),
                               ("gt_resize", GT_RESIZE), ("references", REFERENCES), ("border", BORDERS)):
            if getattr(self, field) not in allowed:
                raise bad(field, f"expected one of {', '.join(allowed)}")
        if self.gt_size != "native" and self.gt_hw() is None:
            raise bad("gt_size", f"expected native or <H>x<W> with H and W from 1 to {MAX_SIZE}, e.g. 480x880")
        if self.tracker not in TRACKERS:
            raise bad("tracker", f"expected one of {', '.join(TRACKERS)}")
        if self.occlusion_threshold is not None and not math.isfinite(self.occlusion_threshold):
            raise bad("occlusion_threshold", "must be a finite number (or none: every point visible)")
        if self.border == "zeros" and (self.window != "square" or self.topk is not None or self.mixing != "joint"):
            raise bad("border", "zeros needs window=square, topk=none and mixing=joint (a softmax over all candidates)")
        if not 0 <= self.context <= MAX_CONTEXT:
            raise bad("context", f"must be from 0 to {MAX_CONTEXT} previous frames")
        if self.context == 0 and not self.first_frame:
            raise bad("context", "with first_frame off, at least one previous frame is needed")
        if self.topk is not None and self.topk < 1:
            raise bad("topk", "must be >= 1 (or none for all candidates)")
        if self.keypoint_readout_topk < 1:
            raise bad("keypoint_readout_topk", "must be >= 1")
        if self.min_label_pixels < 0:
            raise bad("min_label_pixels", "must be >= 0 (0 keeps every object)")
        if self.predict_first and (not self.pad_with_first or self.feedback != "soft" or self.mixing != "per-frame-mean"):
            raise bad("predict_first", "needs pad_with_first=true, feedback=soft and mixing=per-frame-mean")
        lo, hi = TEMPERATURE_RANGE
        if not lo <= self.temperature <= hi:
            raise bad("temperature", f"must be from {lo:g} to {hi:g}")
        if self.radius is not None and not (self.radius > 0 and math.isfinite(self.radius)):
            raise bad("radius", "must be a finite number > 0 (or none for unrestricted)")

    def gt_hw(self) -> tuple[int, int] | None:
        """``gt_size`` as (H, W); ``None`` for ``native`` (or a malformed value)."""
        m = re.fullmatch(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})", self.gt_size)
        if m is None:
            return None
        h, w = int(m.group(1)), int(m.group(2))
        return (h, w) if h <= MAX_SIZE and w <= MAX_SIZE else None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def settings(self) -> dict[str, Any]:
        """All settings except name and version (what decides the numbers)."""
        d = self.to_dict()
        d.pop("name")
        d.pop("version")
        return d

    def describe(self) -> str:
        """One line, for tables and footnotes."""
        s = self.settings()
        return f"{self.name} v{self.version}: " + ", ".join(f"{k}={v}" for k, v in s.items())

    def replace(self, **changes: Any) -> Protocol:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, Protocol] = {
    "crw": Protocol(),
    "crw-jhmdb": Protocol(name="crw-jhmdb", version=2, resize="square", size=320, context=7),
    "crw-jhmdb-centred": Protocol(
        name="crw-jhmdb-centred", resize="square", size=320, context=7, keypoints="centred"
    ),
    "dino": Protocol(
        name="dino",
        version=2,
        resize="short-side",
        size=480,
        context=7,
        pad_with_first=False,
        radius=12.0,
        window="square",
        radius_on_first=True,
        topk=5,
        temperature=0.1,
        label_downsample="pil-nearest",
        norm_mask=True,
        resize_uint8=True,
        upscale="pil-nearest",
        void_label=True,
        palette="uvc",
    ),
    "corrflow": Protocol(
        name="corrflow",
        resize="crop",
        size=8,
        context=1,
        first_frame=False,
        pad_with_first=False,
        radius=6.0,
        window="square",
        topk=None,
        temperature=1.0,
        l2_normalize=False,
        label_downsample="bilinear-ids",
        feedback="hard",
    ),
}

# Presets of the ResNet-family zoo models, restating each method's own evaluation script.
PRESETS.update(
    {
        "vfs": Protocol(
            name="vfs",
            context=20,
            pad_with_first=False,
            first_in_window=True,
            radius_on_first=True,
            topk=10,
            temperature=0.07,
            label_downsample="pil-nearest",
            norm_mask=True,
            void_label=True,
        ),
    }
)
# UVC's test.py resizes frames and labels and writes its output as DINO's script does (DINO took them
# from UVC); it differs in the context (no window, raw dot products, T 1) and in how frames are mixed.
PRESETS["uvc"] = PRESETS["dino"].replace(
    name="uvc", version=1, radius=None, temperature=1.0, l2_normalize=False, mixing="per-frame-mean"
)
# VFS's ResNet-50 config differs from the ResNet-18 one only in neighbor_range 36 (radius 18).
PRESETS["vfs-r50"] = PRESETS["vfs"].replace(name="vfs-r50", radius=18.0)
# CropMAE's downstreams/propagation is CRW's test.py with its own defaults, on DAVIS resized to 480x880.
PRESETS["cropmae"] = Protocol(
    name="cropmae", context=20, radius=20.0, topk=7, temperature=0.7, gt_size="480x880", gt_resize="cv2"
)
# RSP runs DINO's script (its defaults changed) on DAVIS resized to 480x880 by PIL's nearest rule.
PRESETS["rsp"] = PRESETS["dino"].replace(
    name="rsp", version=1, context=30, radius=30.0, topk=7, gt_size="480x880", gt_resize="pil-nearest"
)
# DINOv3's segmentation-tracking notebook: its circle is `distance <= 12`; on the integer grid that
# is `distance < 12.01` (the next distance is sqrt(145) = 12.04), vosbench's strict circle rule.
PRESETS["dinov3"] = Protocol(
    name="dinov3", resize="short-side-up", size=960, context=7, pad_with_first=False, radius=12.01,
    radius_on_first=True, topk=5, temperature=0.2, label_downsample="nearest-grid", norm_mask=True,
    upscale="grid-nearest", void_label=True,
)
# FGVC's BADJA test_cfg (the VFS tracker code) with its frames at 320 x 512: the short side 320 and
# the long side floored to a multiple of 64 give exactly that for BADJA's 16:9 DAVIS frames.
PRESETS["fgvc-badja"] = PRESETS["vfs"].replace(
    name="fgvc-badja", version=1, resize="short-side", size=320, context=5, radius=15.0, keypoints="centred"
)

# TimeCycle's test_davis.py (run_test.sh: --cropSize 320 --topk_vis 5): frames squashed to 320 x 320, frame 0
# and 7 padded previous frames, per-frame softmax of cos / 512**-0.5, top-5 per frame, the mean of the 8 frames,
# min-max-normalised labels fed back, frame 0 predicted too, first-frame colours of 11 pixels or fewer dropped.
PRESETS["timecycle"] = Protocol(
    name="timecycle", resize="square", size=320, context=7, radius=None, topk=5, temperature=512**-0.5,
    mixing="per-frame-mean", minmax_feedback=True, predict_first=True, min_label_pixels=12, upscale="nearest",
)
# CropMAE's JHMDB settings (downstreams/propagation/util.py, test_utils.process_pose's top-5 read-out).
PRESETS["cropmae-jhmdb"] = PRESETS["crw-jhmdb"].replace(
    name="cropmae-jhmdb", version=1, context=20, radius=20.0, topk=7, temperature=0.7, keypoint_readout_topk=5
)

# Point tracking (TAP-Vid): frames squashed to 256 x 256, tapnet's evaluation size.
PRESETS["nn"] = Protocol(name="nn", resize="square", size=256, tracker="nn", temperature=0.05)
PRESETS["propagate"] = Protocol(
    name="propagate", resize="square", size=256, context=7, tracker="propagate", occlusion_threshold=0.1
)

# VIP (human-part propagation, scored by mIoU): CRW's settings quoted in videowalk issue #10; UVC's README command.
PRESETS["crw-vip"] = PRESETS["crw"].replace(name="crw-vip", resize="square", size=560, context=4, upscale="pil-nearest")
PRESETS["uvc-vip"] = PRESETS["uvc"].replace(name="uvc-vip", resize="square", size=560, context=1)

for _name, (_base, _changes) in ZOO_PRESETS.items():  # MAST, Spa-then-Temp, DUL, SFC (zoo_presets.py)
    PRESETS[_name] = PRESETS[_base].replace(name=_name, **_changes)


_FIELDS = {f.name: f for f in dataclasses.fields(Protocol)}
#: settings that may be ``none``
_OPTIONAL = ("radius", "topk", "occlusion_threshold")
#: integer settings
_INTEGERS = ("context", "size", "topk", "min_label_pixels", "keypoint_readout_topk")


def parse_value(key: str, text: str) -> Any:
    """Parse a command-line value for protocol setting ``key`` (``none`` allowed where optional)."""
    if key not in _FIELDS or key in ("name", "version"):
        settable = ", ".join(k for k in _FIELDS if k not in ("name", "version"))
        raise ConfigError(f"unknown protocol setting {key!r}; settable: {settable}")
    default = getattr(PRESETS["crw"], key)
    t = str(text).strip()
    if key in _OPTIONAL and t.lower() in ("none", "off", "all"):
        return None
    try:
        if isinstance(default, bool):
            if t.lower() in ("1", "true", "yes", "on"):
                return True
            if t.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(t)
        if key in _INTEGERS:
            return int(t)
        if key in ("radius", "temperature", "occlusion_threshold"):
            return float(t)
        return t
    except ValueError:
        raise ConfigError(f"protocol setting {key}: cannot parse {text!r}") from None


def get_protocol(name: str, **overrides: Any) -> Protocol:
    """Return preset ``name`` with ``overrides`` applied (values already typed or strings)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown protocol {name!r}; presets: {', '.join(PRESETS)}")
    changes = {}
    for key, value in overrides.items():
        if value is None and key not in _OPTIONAL:
            continue
        changes[key] = parse_value(key, value) if isinstance(value, str) else typed_value(key, value)
    return PRESETS[name].replace(**changes)


def typed_value(key: str, value: Any) -> Any:
    """A protocol value given typed (the Python API, a record) checked against the setting's type."""
    parse_value(key, "none" if value is None else "1")  # an unknown setting: its message lists them
    default = getattr(PRESETS["crw"], key)
    if value is None and key in _OPTIONAL:
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif key in _INTEGERS:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif key in ("radius", "temperature", "occlusion_threshold"):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    else:
        ok = False  # text settings come as strings
    if not ok:
        raise ConfigError(f"protocol setting {key}: {value!r} is not a {type(default).__name__}")
    return value
