"""BADJA animal keypoint adapter (benjiebob/BADJA; docs/benchmarks/badja.md states the protocol).

Layout (the BADJA repository with the DAVIS-2017 TrainVal Full-Resolution archive unpacked into
its ``DAVIS`` folder, the paths BADJA's own ``code/badja_data.py`` joins to the repository root)::

    <root>/joint_annotations/<animal>.json
    <root>/DAVIS/JPEGImages/Full-Resolution/<seq>/00000.jpg ...
    <root>/DAVIS/Annotations/Full-Resolution/<seq>/00000.png ...   DAVIS palette PNGs

Each JSON file is a list of annotated frames ``{"image_path", "segmentation_path", "joints",
"visibility"}``: ``joints`` holds 37 ``[row, col]`` pixel positions (SMAL joints 0-32 and four
vertices), ``visibility`` 37 booleans; BADJA scores the 20 of ``SMALJointInfo.annotated_classes``
(``code/joint_catalog.py``), in that order (:data:`BADJA_JOINTS`). About one frame in five is
annotated.

A video, as the papers that report BADJA build it (aharley/pips ``badjadataset.py``
``BADJAData.__init__``; qianduoduolr/FGVC ``mmpt/datasets/badja_dataset.py``
``BadjaDataset.load_annotations``): only the JSON files whose frames come from DAVIS (the two
``extra_videos`` ones, ``impala0`` and ``rs_dog``, and the frame-less ``cat_jump`` and ``tiger``
are left out), every DAVIS frame from the first annotated frame to the last one. Keypoints are
``(x, y) = (col, row)``. Frame 0 (the first annotated frame) keeps all 20 joints, invisible ones
included: the papers propagate every joint of that frame. In later frames a joint is NaN unless
it is annotated and visible there (only those are scored); frames without an annotation are all
NaN. ``seq.gt`` maps each annotated frame to its segmentation PNG (the PCK normaliser's area).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.safepath import check_name
from vosbench.core.specs import DatasetSpec
from vosbench.datasets.badja_joints import BADJA_JOINTS, SMAL_INDEX, SMAL_JOINTS
from vosbench.datasets.base import VideoDataset, VideoSequence

IMAGE_DIR = "DAVIS/JPEGImages/Full-Resolution"
SEG_DIR = "DAVIS/Annotations/Full-Resolution"
_DAVIS_PATH = re.compile(r"^DAVIS/(JPEGImages|Annotations)/Full-Resolution/([^/]+)/(\d{5})\.(jpg|png)$")


@dataclass(frozen=True)
class AnnotatedFrame:
    """One entry of a BADJA JSON file: the DAVIS sequence and frame number, the 20 joints as
    (x, y) and their visibility."""

    sequence: str
    frame: int
    xy: np.ndarray  # (20, 2) float64
    visible: np.ndarray  # (20,) bool


def _davis_path(value: object, path: Path, i: int, key: str, kind: str) -> tuple[str, int] | None:
    """``DAVIS/<kind>/Full-Resolution/<seq>/<5 digits>.<ext>`` -> (seq, frame); ``None`` for a
    path outside DAVIS (``extra_videos/...``)."""
    if not isinstance(value, str):
        raise InputFileError(f"{path}: entry {i}: {key} is {type(value).__name__}, expected a path string")
    m = _DAVIS_PATH.match(value)
    if m is None:
        if value.startswith("DAVIS/"):
            raise InputFileError(
                f"{path}: entry {i}: {key} {value!r} is not DAVIS/{kind}/Full-Resolution/<sequence>/<5 digits>"
            )
        return None
    if m.group(1) != kind:
        raise InputFileError(f"{path}: entry {i}: {key} {value!r} is not under DAVIS/{kind}")
    seq = check_name(m.group(2), path, None, f"sequence name (entry {i}, {key})")
    return seq, int(m.group(3))


def _joints(entry: dict[str, Any], path: Path, i: int) -> tuple[np.ndarray, np.ndarray]:
    joints, vis = entry.get("joints"), entry.get("visibility")
    if not isinstance(joints, list) or len(joints) != SMAL_JOINTS:
        n = len(joints) if isinstance(joints, list) else type(joints).__name__
        raise InputFileError(f"{path}: entry {i}: 'joints' has {n} entries, expected {SMAL_JOINTS} [row, col] pairs")
    if not isinstance(vis, list) or len(vis) != SMAL_JOINTS or not all(isinstance(v, bool) for v in vis):
        raise InputFileError(f"{path}: entry {i}: 'visibility' must be a list of {SMAL_JOINTS} booleans")
    rows = [joints[k] for k in SMAL_INDEX]
    ok = all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)
        for p in rows
    )
    arr = np.asarray(rows, dtype=np.float64) if ok else np.zeros(0)
    if not ok or not np.isfinite(arr).all():
        raise InputFileError(f"{path}: entry {i}: every scored joint must be a [row, col] pair of finite numbers")
    return arr[:, ::-1].copy(), np.asarray([vis[k] for k in SMAL_INDEX], dtype=bool)


def read_badja_json(path: str | Path) -> list[AnnotatedFrame]:
    """The DAVIS frames of one BADJA annotation file, sorted by frame; ``[]`` for a non-DAVIS video.

    Raises:
        InputFileError: unreadable or malformed JSON, a bad path, joint count or value, two
            sequences or a frame twice in one file.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{p}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputFileError(f"{p}: not a readable JSON file ({e})") from None
    if not isinstance(data, list) or not data or not all(isinstance(e, dict) for e in data):
        raise InputFileError(f"{p}: expected a non-empty JSON list of annotated frames (objects)")
    out: dict[int, AnnotatedFrame] = {}
    for i, entry in enumerate(data):
        img = _davis_path(entry.get("image_path"), p, i, "image_path", "JPEGImages")
        seg = _davis_path(entry.get("segmentation_path"), p, i, "segmentation_path", "Annotations")
        if img is None or seg is None:
            if img != seg:
                raise InputFileError(f"{p}: entry {i}: image_path and segmentation_path name different videos")
            if out:
                raise InputFileError(f"{p}: entry {i}: a frame outside DAVIS in a DAVIS video")
            continue
        if img != seg:
            raise InputFileError(f"{p}: entry {i}: image_path and segmentation_path name different frames")
        seq, frame = img
        if out and next(iter(out.values())).sequence != seq:
            raise InputFileError(f"{p}: entry {i}: sequence {seq!r}; the file's first entry is another sequence")
        if frame in out:
            raise InputFileError(f"{p}: entry {i}: frame {frame:05d} is annotated twice")
        xy, visible = _joints(entry, p, i)
        out[frame] = AnnotatedFrame(seq, frame, xy, visible)
    if out and len(out) != len(data):
        raise InputFileError(f"{p}: mixes DAVIS frames and frames outside DAVIS")
    return [out[k] for k in sorted(out)]


class BadjaDataset(VideoDataset):
    """The DAVIS videos of BADJA (keypoint propagation, PCK normalised by the segmented area).

    Args:
        spec: Registry record.
        root: The BADJA folder (``joint_annotations/`` and ``DAVIS/``).
    """

    task = "pose"
    joints = BADJA_JOINTS
    pck_rules = "badja"

    def __init__(self, spec: DatasetSpec, root: Path, **options: Any):
        super().__init__(spec, root, **options)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{spec.name}: data root {self.root} does not exist")
        ann = self.root / "joint_annotations"
        if not ann.is_dir():
            raise DatasetLayoutError(
                f"{spec.name}: expected folder {ann} (layout: {spec.needs}); is {self.root} the BADJA folder?"
            )
        self._videos: dict[str, list[AnnotatedFrame]] = {}
        for f in sorted(ann.glob("*.json")):
            frames = read_badja_json(f)
            if not frames:
                continue  # extra_videos (not DAVIS): left out as by the papers
            seq = frames[0].sequence
            if seq in self._videos:
                raise DatasetLayoutError(f"{f}: sequence {seq!r} is also annotated by another file in {ann}")
            self._videos[seq] = frames
        if not self._videos:
            raise DatasetLayoutError(f"{spec.name}: {ann} holds no annotation file of a DAVIS video (*.json)")

    def sequence_names(self) -> list[str]:
        return list(self._videos)

    def sequence(self, name: str) -> VideoSequence:
        if name not in self._videos:
            self.select([name])
        ann = self._videos[name]
        first, last = ann[0].frame, ann[-1].frame
        img_dir, seg_dir = self.root / IMAGE_DIR / name, self.root / SEG_DIR / name
        frames = [f"{k:05d}" for k in range(first, last + 1)]
        paths = [img_dir / f"{s}.jpg" for s in frames]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DatasetLayoutError(
                f"{self.name}: video {name!r} needs every frame {frames[0]}..{frames[-1]}; {missing[0]} is missing "
                f"({len(missing)} missing). Unpack DAVIS-2017-trainval-Full-Resolution.zip into {self.root / 'DAVIS'}"
            )
        kps = np.full((len(frames), len(BADJA_JOINTS), 2), np.nan)
        gt: dict[int, Path] = {}
        for a in ann:
            t = a.frame - first
            kps[t] = np.where(a.visible[:, None] | (t == 0), a.xy, np.nan)
            gt[t] = seg_dir / f"{a.frame:05d}.png"
            if not gt[t].is_file():
                raise DatasetLayoutError(f"{self.name}: video {name!r}: segmentation {gt[t]} is missing")
        return VideoSequence(
            name=name,
            frames=frames,
            image_paths=paths,
            gt=gt,
            keypoints=kps,
            meta={
                "dataset": self.name,
                "annotated_frames": len(ann),
                "first_frame_visible": [bool(v) for v in ann[0].visible],
            },
        )

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(joints=list(BADJA_JOINTS), pck="badja")
        return d


def build_badja(spec: DatasetSpec, root: Path, **options: Any) -> BadjaDataset:
    """Factory of ``badja``."""
    return BadjaDataset(spec, root, **options)


def build_synthetic_badja(spec: DatasetSpec, root: Path, **options: Any) -> BadjaDataset:
    """Factory of ``synthetic-badja``: generate (once) into ``root``, then open it with the same
    :class:`BadjaDataset` code path as the real set."""
    from vosbench.datasets.synthetic import ensure_generated, generator_params

    params = generator_params("badja", spec, root, options)
    ensure_generated("badja", root, **params)
    return BadjaDataset(spec, Path(root), **options)
