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
from vosbench.propagation.zoo_presets import ZOO_PRESET_INFO, ZOO_PRESETS

RESIZE_MODES = ("native", "square", "short-side", "crop", "short-side-up")
WINDOWS = ("circle", "square")
LABEL_DOWNSAMPLE = ("bilinear", "nearest", "pil-nearest", "bilinear-ids", "nearest-grid", "subsample")
FEEDBACK = ("soft", "hard")
UPSCALE = ("nearest-exact", "pil-nearest", "grid-nearest")
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
            as min-max and arg-max on the grid, then the ids up-sampled, which is the same).
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
        references: ``recent`` (the last ``context`` frames) or ``mast`` (MAST's: frame 5 once passed and
            ``context`` previous frames two apart from t-1, each once; frame 0 via ``first_frame``).
        border: Window positions beyond the frame: ``drop``, or ``zeros`` (candidates of similarity 0
            without label: MAST's zero padding; square window, no top-k, joint mixing only).
        align_corners: Bilinear label down-sampling and soft-label up-sampling with ``align_corners=True`` (DUL).
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
    references: str = "recent"
    border: str = "drop"
    align_corners: bool = False

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
        if self.border == "zeros" and (self.window != "square" or self.topk is not None or self.mixing != "joint"):
            raise bad("border", "zeros needs window=square, topk=none and mixing=joint (a softmax over all candidates)")
        if not 0 <= self.context <= MAX_CONTEXT:
            raise bad("context", f"must be from 0 to {MAX_CONTEXT} previous frames")
        if self.context == 0 and not self.first_frame:
            raise bad("context", "with first_frame off, at least one previous frame is needed")
        if self.topk is not None and self.topk < 1:
            raise bad("topk", "must be >= 1 (or none for all candidates)")
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

@dataclass(frozen=True)
class PresetInfo:
    """Where a preset comes from and how closely it was checked.

    Attributes:
        reference: The official script it restates (repository, commit, files, command).
        verified: What was compared, on what data, with what agreement.
    """

    reference: str
    verified: str


PRESET_INFO: dict[str, PresetInfo] = {
    "fgvc-badja": PresetInfo(
        reference="qianduoduolr/FGVC @2b6bcf0 configs/eval/res18_d1_eval.py test_cfg_badja (precede_frames 5, "
        "topk 10, temperature 0.07, neighbor_range 30, with_first, with_first_neighbor) + configs/eval/base_data.py "
        "test_badja (size (320, 512)) + mmpt/models/trackers/vanilla_tracker.py; PCK: mmpt/datasets/"
        "badja_dataset.py pck_evaluate (vosbench.scoring.pck_badja)",
        verified="PCK restated step by step on hand-made joints and segmentations to 1e-12 (tests/test_badja.py); "
        "the propagation settings are VFS's tracker with FGVC's values. Not restated: FGVC's label maps "
        "(Gaussian sigma 3 px at half resolution) and top-5 read-out (vosbench: centred maps, sigma 0.5 cells, "
        "top-3); no FGVC checkpoint was run here",
    ),
    "crw": PresetInfo(
        reference="ajabri/videowalk @047f3f4 code/test.py (+ code/data/vos.py, code/utils/test_utils.py), "
        "README DAVIS command: --topk 10 --videoLen 20 --radius 12 --temperature 0.05 --cropSize -1",
        verified="CRW's own test.py, real DAVIS frames, same deterministic random-init weights: 99.99998 % "
        "identical predicted pixels (measured with CRW's script); the full-affinity restatement in benchmarks/propagation.py: "
        "100.000 % on the real DAVIS-2016 sample",
    ),
    "crw-jhmdb": PresetInfo(
        reference="ajabri/videowalk @047f3f4 code/test.py + code/data/jhmdb.py + code/utils/test_utils.py "
        "(process_pose) + code/eval/eval_pck.py; settings of videowalk issue #10: --topk 10 --videoLen 7 "
        "--radius 12 --temperature 0.05 --cropSize 320",
        verified="label maps, top-3 read-out, feat_res mapping back and PCK (visibility, normaliser) equal to "
        "1e-9 to a line-by-line restatement of CRW's code on hand-made keypoints and maps: rounded != exact "
        "cell, int() truncation at the border, off-frame and lost joints, frame 0, top-3 ties "
        "(tests/test_crw_jhmdb.py); propagation as crw. Issue 17 found CRW's scripts with exactly these "
        "two steps swapped for vosbench v1's reproduce v1's keypoints to 0.0007 px; v2 was not re-run "
        "against CRW's scripts here",
    ),
    "crw-jhmdb-centred": PresetInfo(
        reference="none: vosbench's sub-cell encoding / cell-centre decoding on CRW's JHMDB propagation "
        "(was crw-jhmdb v1); not comparable with published JHMDB rows",
        verified="GT maps read back exactly (synthetic-jhmdb GT round trip PCK@0.05 100.0, crw-jhmdb 96.8); "
        "vs crw-jhmdb on synthetic-jhmdb (benchmarks/jhmdb_readout.py): resnet18 random init PCK@0.1/0.2 "
        "+2.3/+1.5 points, lab +3.0/+7.6",
    ),
    "dino": PresetInfo(
        reference="facebookresearch/dino @7c446df eval_video_segmentation.py, defaults (--n_last_frames 7 "
        "--size_mask_neighborhood 12 --topk 5 --patch_size 16)",
        verified="a step-by-step restatement of the script (tests/test_dino_protocol.py; cv2 for read_frame, "
        "PIL for the label and output resizes), random-init 2-block ViT/16, first 10 frames of the 6 real "
        "DAVIS-2016 sample sequences: 100.00000 % identical pixels (v1: 99.89012 %); OpenCV's uint8 "
        "resize restated bit-exactly (tests/test_resize_uint8.py, cv2 4.5.5 to 5.0). Issue 17 ran the unmodified "
        "script against v1: 99.995 %",
    ),
    "corrflow": PresetInfo(
        reference="zlai0/CorrFlow @f6bd381 test.py + models/colorizer.py + functional/feeder/dataset/"
        "DavisLoader.py (benchmark.py for the written PNGs)",
        verified="not run against CorrFlow's test.py (its correlation is the spatial_correlation_sampler "
        "CUDA extension); encoder equal to a functional restatement of CorrFlow's network "
        "(tests/test_models_corrflow.py); window, softmax, label and feedback rules restated in "
        "tests/test_propagate.py. Not reproduced: test.py's frame-averaged metric and benchmark.py's 3-px "
        "shift (README protocol table)",
    ),
}

PRESET_INFO.update(
    {
        "vfs": PresetInfo(
            reference="xvjiarui/VFS @8e055cc configs/r18_nc_sgd_cos_100e_r2_1xNx8_k400.py test_cfg (precede_frames 20, "
            "topk 10, temperature 0.07, strides (1,2,1,1), out_indices (2,), neighbor_range 24, with_first, "
            "with_first_neighbor) + mmaction/models/trackers/vanilla_tracker.py forward_test + "
            "mmaction/models/common/local_attention.py masked_attention_efficient; the r50 config differs only in "
            "neighbor_range (preset vfs-r50)",
            verified="the distinctive steps restated on small inputs (tests/test_models_vfs.py): keys frame 0 plus "
            "frames max(0, t-20)..t-1 (frame 0 twice while t <= 20), the circle mask dist < 12 on every key "
            "frame, joint top-10 softmax at T 0.07, PIL-nearest first-frame labels, min-max before the arg-max. "
            "Not reproduced: the script's Resize(scale=(-1, 480), keep_ratio) of the frames, the identity on "
            "DAVIS 480p frames (vosbench keeps the native size for any input). Not run against VFS's script "
            "(mmcv-full)",
        ),
    }
)
PRESET_INFO["uvc"] = PresetInfo(
    reference="Liusifei/UVC @4336938 test.py (README command -s 480; defaults --pre_num 7 --temp 1 --topk 5) + "
    "libs/test_utils.py read_frame / read_seg / transform_topk + libs/model.py Model_switchGTfixdot_swCC_Res",
    verified="the distinctive steps restated on small inputs (tests/test_models_uvc.py): per context frame a "
    "softmax of raw dot products over all its cells, weights below the k-th largest zeroed without "
    "renormalising, the mean over frame 0 and the 7 previous frames, soft feedback, x8 bilinear up, min-max, "
    "arg-max. Frames: short side 480, long side floored to x64, the 8-bit frame resized (cv2) before the "
    "Lab conversion. Not run against UVC's script (PyTorch 1.1, scipy.misc.imresize)",
)
PRESET_INFO["vfs-r50"] = PresetInfo(
    reference="xvjiarui/VFS @8e055cc configs/r50_nc_sgd_cos_100e_r5_1xNx2_k400.py test_cfg: as vfs but "
    "neighbor_range 36 (radius 18 cells)",
    verified="as vfs (the same loop; only the radius differs)",
)

PRESET_INFO["cropmae"] = PresetInfo(
    reference="alexandre-eymael/CropMAE @5d0dab2 downstreams/propagation/start.py (DAVIS defaults: temperature "
    "0.7, topk 7, radius 20, video_len 20, crop_size [480, 880], long_mem [0], L2 on, norm_mask off) + src/test.py "
    "+ src/data/vos.py + src/utils/test_utils.py (CRW's test.py restated) + src/eval/convert_davis.py; scored by "
    "davis2017-evaluation on --davis_path datasets/davis-2017/DAVIS_480_880, i.e. against 480x880 ground truth",
    verified="the distinctive steps restated on small inputs (tests/test_preset_resized_gt.py): frames, input "
    "labels and GT resized to 480x880 (vos.py: OpenCV bilinear frame, INTER_NEAREST label), J&F against the "
    "resized GT equal to scoring hand-resized masks, CRW's context/radius/top-k rules at the CropMAE values. "
    "Not determined: how the authors' DAVIS_480_880 copy was made (not in the repository; with an already "
    "resized copy vos.py resizes nothing); vosbench resizes the 8-bit frame (OpenCV's integer rule) where "
    "vos.py resizes the frame divided by 255 in float (at most 0.5/255 apart). Not run against CropMAE's script",
)
PRESET_INFO["rsp"] = PresetInfo(
    reference="huiwon-jang/RSP @5ea2b91 data_preprocessing/eval/davis_preprocessing.py (frames and annotations "
    "PIL NEAREST to 880x480) + eval_video_segmentation_davis.py (DINO's script; README: --topk 7 "
    "--size_mask_neighborhood 30 --n_last_frames 30, temperature 0.1) + davis2017-evaluation on DAVIS_480_880",
    verified="as dino (the same script, its defaults changed; the 480x880 frame becomes 480x832 by the short-side "
    "rule); the PIL-nearest resize of frames and GT and the scoring against the resized GT restated in "
    "tests/test_preset_resized_gt.py. Not reproduced: the JPEG re-encoding of the resized frames. Not run "
    "against RSP's script",
)
PRESET_INFO["dinov3"] = PresetInfo(
    reference="facebookresearch/dinov3 @6876159 notebooks/segmentation_tracking.ipynb (ResizeToMultiple short side "
    "960 up to x16, PIL bicubic; first mask nearest-exact to the grid; propagate(): cosine, circle norm <= 12 on "
    "every context frame, top-5, softmax at T 0.2; first frame + 7 most recent; nearest up-sampling to the mask "
    "size, per-channel min-max, arg-max)",
    verified="the distinctive steps restated on small inputs (tests/test_preset_dinov3.py): the resize size rule "
    "and PIL bicubic frame, the one-step nearest-exact first mask, the <= 12 circle as radius 12.01, legacy-nearest "
    "up-sampling with min-max and arg-max: identical predictions to the restated notebook loop on an 11-frame "
    "video. Differs: the notebook keeps every candidate tied with the 5th (exact ties only). The notebook runs one demo video (no DAVIS score); not run against it "
    "here (DINOv3 weights are gated)",
)

for _name, (_base, _changes) in ZOO_PRESETS.items():  # MAST, Spa-then-Temp, DUL, SFC (zoo_presets.py)
    PRESETS[_name] = PRESETS[_base].replace(name=_name, **_changes)
PRESET_INFO.update({k: PresetInfo(*v) for k, v in ZOO_PRESET_INFO.items()})

_FIELDS = {f.name: f for f in dataclasses.fields(Protocol)}


def parse_value(key: str, text: str) -> Any:
    """Parse a command-line value for protocol setting ``key`` (``none`` allowed where optional)."""
    if key not in _FIELDS or key in ("name", "version"):
        settable = ", ".join(k for k in _FIELDS if k not in ("name", "version"))
        raise ConfigError(f"unknown protocol setting {key!r}; settable: {settable}")
    default = getattr(PRESETS["crw"], key)
    t = str(text).strip()
    if key in ("radius", "topk") and t.lower() in ("none", "off", "all"):
        return None
    try:
        if isinstance(default, bool):
            if t.lower() in ("1", "true", "yes", "on"):
                return True
            if t.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(t)
        if key in ("context", "size", "topk"):
            return int(t)
        if key in ("radius", "temperature"):
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
        if value is None and key not in ("radius", "topk"):
            continue
        changes[key] = parse_value(key, value) if isinstance(value, str) else typed_value(key, value)
    return PRESETS[name].replace(**changes)


def typed_value(key: str, value: Any) -> Any:
    """A protocol value given typed (the Python API, a record) checked against the setting's type."""
    parse_value(key, "none" if value is None else "1")  # an unknown setting: its message lists them
    default = getattr(PRESETS["crw"], key)
    if value is None and key in ("radius", "topk"):
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif key in ("context", "size", "topk"):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif key in ("radius", "temperature"):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    else:
        ok = False  # text settings come as strings
    if not ok:
        raise ConfigError(f"protocol setting {key}: {value!r} is not a {type(default).__name__}")
    return value
