"""YouTube-VOS 2018 / 2019 adapter (the official release, https://youtube-vos.org/dataset/vos/; rules in the
README, section "YouTube-VOS").

Layout (the official archives, as extracted)::

    <root>/<split>/JPEGImages/<video>/<frame>.jpg      every 5th frame; names are the original
                                                        5-digit frame indices (need not start at 0)
    <root>/<split>/Annotations/<video>/<frame>.png     palette PNGs; for ``valid`` only the frames
                                                        where an object first appears
    <root>/<split>/meta.json                           {"videos": {video: {"objects": {id:
                                                        {"category": str, "frames": [frame, ...]}}}}}
    <root>/all_frames/<split>_all_frames/JPEGImages/<video>/<frame>.jpg   optional 30 fps release

Rules:

* An object joins the propagation at the first frame its ``meta.json`` entry lists. Its mask is
  read from that frame's PNG, and only the objects that *start* at that frame are taken from it
  (``valid`` PNGs are not exhaustive: an older object's pixels there cannot be relied on).
* Predictions are written for exactly the frames listed in ``meta.json`` (the union over the
  video's objects), from the first annotated frame on, as palette PNGs at the original resolution.
* When the all-frames release is present, propagation runs over every frame and only the
  ``meta.json`` frames are written.
* Scoring, when GT exists for every output frame: the ``train`` split (its Annotations are
  exhaustive) or a folder of full GT (``gt_root``; default ``<root>/<split>_gt/Annotations`` when
  it exists, which is where the synthetic generator puts it). J and F per object from the frame
  after its first appearance (the first-appearance frame is given; the video's last frame is left
  out as in DAVIS), then split by category into seen and unseen; ``overall`` = mean of J_seen,
  F_seen, J_unseen, F_unseen.
* Seen / unseen: a category list file (``unseen_categories``; default
  ``<root>/unseen_categories.txt`` or ``<root>/<split>/unseen_categories.txt``, one category per
  line), else, when ``<root>/train/meta.json`` exists, the categories found there are the seen ones.
* ``train`` split: scored locally on a held-out subset of videos, given as a file with one video
  name per line (``heldout``) or, by default, every 10th video of the sorted ``train/meta.json``
  list. All of its categories are seen unless an unseen-category file says otherwise.

``valid`` / ``test`` predictions are also packed as ``submission.zip`` with the layout
``Annotations/<video>/<frame>.png`` that the YouTube-VOS evaluation servers accept.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any, TypedDict

import numpy as np

from vosbench.datasets.base import VideoDataset, VideoSequence
from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.core.safepath import check_name, json_key_line
from vosbench.core.specs import DatasetSpec

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
HELDOUT_EVERY = 10


class MetaObject(TypedDict):
    """One object of a ``meta.json`` video: its category and its frames (sorted, no duplicates)."""

    category: str | None
    frames: list[str]


#: ``meta.json`` parsed: video -> object id -> entry
Meta = dict[str, dict[int, MetaObject]]


def frame_key(name: str) -> tuple[int, int | str]:
    """Sort key of frame names: numeric names in numeric order, then the others by name."""
    return (0, int(name)) if name.isdigit() else (1, name)


@dataclass
class YouTubeVOSSequence(VideoSequence):
    """A YouTube-VOS video: an input PNG keeps only the objects that start in its frame.

    Attributes:
        new_objects: Frame index -> ids of the objects whose first frame it is.
    """

    new_objects: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def read_annotation(self, i: int) -> np.ndarray:
        ids = super().read_annotation(i)
        keep = self.new_objects.get(i)
        if keep is None:
            return ids
        absent = [oid for oid in keep if not (ids == oid).any()]
        if absent:  # it could never be propagated, and with an empty GT it would score a perfect 1.0
            raise InputFileError(
                f"{self.annotations[i]}: object(s) {', '.join(map(str, absent))} of video {self.name!r} first appear "
                f"in this frame according to meta.json, but this annotation has no pixel with that id; fix the "
                f"annotation, or remove the object from meta.json"
            )
        return np.where(np.isin(ids, keep), ids, 0).astype(np.uint8)


def load_meta(path: Path, what: str) -> Meta:
    """``meta.json`` -> {video: {object id: {"category": str, "frames": [str, ...]}}}, validated: names are
    safe single path components, ids in 1..254, frames a non-empty list (sorted by :func:`frame_key`).

    Raises:
        DatasetLayoutError: missing or malformed file (``what`` names who asked for it), naming the entry.
    """
    if not path.is_file():
        raise DatasetLayoutError(
            f"{what}: {path} not found; the data root must hold <split>/meta.json, <split>/JPEGImages "
            f"and <split>/Annotations (the YouTube-VOS archive as extracted)"
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetLayoutError(f"{path}: cannot parse JSON ({e})") from None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise DatasetLayoutError(f'{path}: expected {{"videos": {{<video>: {{"objects": {{...}}}}}}}} at the top level')
    out: Meta = {}
    for vid, entry in videos.items():
        check_name(vid, path, json_key_line(text, vid), "video name")
        objs = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(objs, dict):
            raise DatasetLayoutError(f'{path}: video {vid!r} has no "objects" mapping')
        parsed: dict[int, MetaObject] = {}
        for key, obj in objs.items():
            try:
                oid = int(key)
            except ValueError:
                raise DatasetLayoutError(f"{path}: video {vid!r}: object id {key!r} is not an integer") from None
            if not 1 <= oid <= 254:
                raise DatasetLayoutError(f"{path}: video {vid!r}: object id {oid} outside 1..254")
            frames = obj.get("frames") if isinstance(obj, dict) else None
            if not isinstance(frames, list) or not frames or not all(isinstance(f, str) for f in frames):
                raise DatasetLayoutError(
                    f'{path}: video {vid!r}, object {key}: expected "frames": a non-empty list of frame names'
                )
            for f in frames:
                check_name(f, path, json_key_line(text, f), f"frame name (video {vid!r}, object {key})")
            category = obj.get("category")
            parsed[oid] = MetaObject(
                category=str(category) if category is not None else None,
                frames=sorted(set(frames), key=frame_key),
            )
        out[str(vid)] = parsed
    return out


def read_list(path: Path, what: str) -> list[str]:
    """The names in a list file (one per line; blank lines and ``#`` comments skipped)."""
    if not path.is_file():
        raise DatasetLayoutError(f"{what}: {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetLayoutError(f"{what}: cannot read {path} ({e})") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def meta_frames(objects: Mapping[int, MetaObject]) -> list[str]:
    """A video's ``meta.json`` frames: the union over its objects, in frame order. These are the frames a
    run predicts and scores (the first object's first frame comes first)."""
    return sorted({f for o in objects.values() for f in o["frames"]}, key=frame_key)


def load_unseen_categories(
    meta: Meta,
    split_dir: Path,
    base: Path,
    listed: str | os.PathLike[str] | None = None,
    *,
    split: str | None = None,
    what: str = "unseen-category list",
) -> tuple[set[str | None] | None, str | None]:
    """The split's unseen categories and where they came from; ``(None, None)`` without any category
    information. The rule (README, section "YouTube-VOS"): the ``listed`` file (one category per line), else
    ``unseen_categories.txt`` in ``base`` (the data root) or in ``split_dir``, else every category for the
    ``train`` split is seen, else the categories absent from ``base/train/meta.json``.

    Raises:
        DatasetLayoutError: a list file (``what`` names it in the message) or ``train/meta.json`` is
            missing or unreadable.
    """
    if listed is not None:
        path = Path(listed).expanduser()
        return set[str | None](read_list(path, what)), str(path)
    for path in (base / "unseen_categories.txt", split_dir / "unseen_categories.txt"):
        if path.is_file():
            return set[str | None](read_list(path, what)), str(path)
    if split == "train":
        return set(), "train split: every category is seen"
    train_meta = base / "train" / "meta.json"
    if not train_meta.is_file():
        return None, None
    seen = {o["category"] for v in load_meta(train_meta, "train meta.json").values() for o in v.values()}
    present = {o["category"] for v in meta.values() for o in v.values()}
    return present - seen, f"categories absent from {train_meta}"


def _list_images(d: Path) -> list[Path]:
    return sorted(
        (p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")),
        key=lambda p: frame_key(p.stem),
    )


class YouTubeVOSDataset(VideoDataset):
    """YouTube-VOS ``valid`` / ``test`` / ``train`` split (see the module docstring).

    Args:
        spec: Registry record.
        root: Dataset root (holding ``<split>/``), or the split folder itself.
        split: ``valid``, ``test`` or ``train``.
        year: 2018 or 2019 (recorded only; the layouts are identical).
        gt_root: Folder of full GT PNGs ``<gt_root>/<video>/<frame>.png`` for every output frame.
        heldout: ``train`` only: file listing the held-out videos scored locally.
        unseen_categories: File listing the unseen categories, one per line.
        all_frames: Use the all-frames release when present (``False``: always the 6 fps frames).
        all_frames_root: Folder of the all-frames ``<video>/`` folders (default: the official place).
    """

    def __init__(
        self,
        spec: DatasetSpec,
        root: Path,
        split: str = "valid",
        year: int = 2018,
        gt_root: str | Path | None = None,
        heldout: str | Path | None = None,
        unseen_categories: str | Path | None = None,
        all_frames: bool = True,
        all_frames_root: str | Path | None = None,
        **options: Any,
    ):
        super().__init__(spec, root, **options)
        if split not in ("valid", "test", "train"):
            raise DatasetLayoutError(f"{spec.name}: split {split!r} unknown; expected valid, test or train")
        self.split = split
        self.year = int(year)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{spec.name}: data root {self.root} does not exist")
        if (self.root / split / "meta.json").is_file() or not (self.root / "meta.json").is_file():
            self.split_dir = self.root / split
            base = self.root
        else:  # the user pointed at the split folder itself
            self.split_dir = self.root
            base = self.root.parent
        self.meta_path = self.split_dir / "meta.json"
        self.meta = load_meta(self.meta_path, spec.name)
        self.image_dir = self.split_dir / "JPEGImages"
        self.anno_dir = self.split_dir / "Annotations"
        for d in (self.image_dir, self.anno_dir):
            if not d.is_dir():
                raise DatasetLayoutError(f"{spec.name}: expected folder {d} (layout: {spec.needs})")
        self.gt_dir = self._full_gt(gt_root, base)
        self.all_frames_dir: Path | None = None
        if all_frames:
            default = base / "all_frames" / f"{split}_all_frames" / "JPEGImages"
            cand = Path(all_frames_root).expanduser() if all_frames_root else default
            if all_frames_root and not cand.is_dir():
                raise DatasetLayoutError(f"{spec.name}: all_frames_root {cand} does not exist")
            if cand.is_dir():
                self.all_frames_dir = cand
        self._names, self.heldout_rule = self._videos(heldout)
        self.unseen, self.category_source = load_unseen_categories(
            self.meta, self.split_dir, base, unseen_categories or None, split=split,
            what=f"{spec.name} unseen-category list",
        )

    def _full_gt(self, gt_root: str | Path | None, base: Path) -> Path | None:
        """Full GT: a given folder, the exhaustive train Annotations, or ``<split>_gt/Annotations``."""
        if gt_root is not None:
            gt_dir = Path(gt_root).expanduser()
            if not gt_dir.is_dir():
                raise DatasetLayoutError(f"{self.name}: gt_root {gt_dir} does not exist")
            return gt_dir
        if self.split == "train":
            return self.anno_dir
        if (base / f"{self.split}_gt" / "Annotations").is_dir():
            return base / f"{self.split}_gt" / "Annotations"
        return None

    def _videos(self, heldout: str | Path | None) -> tuple[list[str], str | None]:
        """The videos of this split and, for ``train``, the held-out rule that chose them."""
        names = sorted(self.meta)
        if self.split != "train":
            return names, None
        if heldout is None:
            return names[::HELDOUT_EVERY], f"every {HELDOUT_EVERY}th video of the sorted {self.meta_path.name} list"
        listed = read_list(Path(heldout).expanduser(), f"{self.name} held-out list")
        unknown = [n for n in listed if n not in self.meta]
        if unknown:
            raise DatasetLayoutError(f"{heldout}: video(s) {', '.join(unknown[:5])} are not in {self.meta_path}")
        return list(dict.fromkeys(listed)), f"file {heldout}"

    # -- hooks of VideoDataset --------------------------------------------------------

    @property
    def submission_prefix(self) -> str | None:
        """Zip layout for the evaluation servers (``valid``/``test``); ``None`` for local train scoring."""
        return None if self.split == "train" else "Annotations/"

    @property
    def submission_with_gt(self) -> bool:
        """Write the submission zip even where local GT exists (e.g. synthetic ``valid_gt``)."""
        return self.split != "train"

    def sequence_names(self) -> list[str]:
        return list(self._names)

    def sequence(self, name: str) -> YouTubeVOSSequence:
        if name not in self.meta:
            self.select([name])  # raises with the list of valid names
        objects = self.meta[name]
        six_dir = self.image_dir / name
        if not six_dir.is_dir():
            raise DatasetLayoutError(f"{self.name}: video {name!r} is in {self.meta_path} but {six_dir} is missing")
        if self.all_frames_dir is not None:
            img_dir = self.all_frames_dir / name
            if not img_dir.is_dir():
                raise DatasetLayoutError(
                    f"{self.name}: the all-frames release {self.all_frames_dir} has no folder for video {name!r}; "
                    f"complete it, or move it away to propagate over the 6 fps frames only"
                )
        else:
            img_dir = six_dir
        images = _list_images(img_dir)
        if not images:
            raise DatasetLayoutError(f"{self.name}: no frames (*.jpg) in {img_dir}")
        frames = [p.stem for p in images]
        index = {n: i for i, n in enumerate(frames)}
        if len(index) != len(frames):
            raise DatasetLayoutError(f"{self.name}: duplicate frame names in {img_dir}")

        starts: dict[int, int] = {}
        for oid, obj in objects.items():
            missing = [f for f in obj["frames"] if f not in index]
            if missing:
                raise DatasetLayoutError(
                    f"{self.name}: {self.meta_path} lists frame(s) {', '.join(missing[:5])} of video {name!r} "
                    f"(object {oid}) that are not in {img_dir}"
                )
            starts[oid] = index[obj["frames"][0]]
        if not starts:
            raise DatasetLayoutError(f"{self.name}: video {name!r} has no objects in {self.meta_path}")
        new_objects: dict[int, list[int]] = {}
        for oid, t in sorted(starts.items()):
            new_objects.setdefault(t, []).append(oid)
        annotations: dict[int, Path] = {}
        for t in new_objects:
            png = self.anno_dir / name / f"{frames[t]}.png"
            if not png.is_file():
                raise DatasetLayoutError(
                    f"{self.name}: object(s) {new_objects[t]} of video {name!r} first appear in frame {frames[t]} "
                    f"but {png} is missing"
                )
            annotations[t] = png
        outputs = sorted(index[f] for f in meta_frames(objects))  # none before the first object's first frame

        gt: dict[int, Path] = {}
        if self.gt_dir is not None:
            gdir = self.gt_dir / name
            found = {t: gdir / f"{frames[t]}.png" for t in outputs}
            missing_gt = [frames[t] for t, p in found.items() if not p.is_file()]
            # a video without any GT is simply not scored; a partial GT folder is an error
            if missing_gt and (self.split == "train" or len(missing_gt) < len(found)):
                raise DatasetLayoutError(
                    f"{self.name}: GT for video {name!r} is incomplete: {gdir} lacks "
                    f"{', '.join(missing_gt[:5])}{' ...' if len(missing_gt) > 5 else ''} "
                    f"(every meta.json frame needs a GT PNG to be scored)"
                )
            if not missing_gt:
                gt = found
        return YouTubeVOSSequence(
            name=name,
            frames=frames,
            image_paths=images,
            annotations=annotations,
            gt=gt,
            output_frames=outputs,
            objects={oid: {"category": o["category"], "first_frame": o["frames"][0]} for oid, o in objects.items()},
            object_starts=dict(starts),
            meta={"dataset": self.name, "all_frames": self.all_frames_dir is not None},
            new_objects={t: tuple(v) for t, v in new_objects.items()},
        )

    # -- scoring hooks -----------------------------------------------------------------------

    def category(self, video: str, obj: int) -> str | None:
        entry = self.meta.get(video, {}).get(int(obj))
        return entry["category"] if entry is not None else None

    def object_group(self, sequence: str, obj: int) -> str | None:
        """``"seen"`` or ``"unseen"`` by the object's category; ``None`` without any category
        information (no list file, no ``train/meta.json``)."""
        if self.unseen is None:
            return None
        return "unseen" if self.category(sequence, obj) in self.unseen else "seen"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            split=self.split,
            year=self.year,
            all_frames=self.all_frames_dir is not None,
            gt=str(self.gt_dir) if self.gt_dir is not None else None,
            categories=self.category_source,
        )
        if self.heldout_rule:
            d["heldout"] = self.heldout_rule
        return d


def build_ytvos(spec: DatasetSpec, root: Path, **options: Any) -> YouTubeVOSDataset:
    """Factory of ``ytvos18-*`` / ``ytvos19-*``."""
    return YouTubeVOSDataset(spec, root, **options)


def build_synthetic_ytvos(spec: DatasetSpec, root: Path, **options: Any) -> YouTubeVOSDataset:
    """Factory of ``synthetic-ytvos``: generate (once) into ``root``, then open it with the same
    :class:`YouTubeVOSDataset` code path as the real ``valid`` set (its ``valid_gt`` makes it
    scorable; the submission zip is written too)."""
    from vosbench.datasets.synthetic import ensure_generated, generator_params

    params = generator_params("ytvos", spec, root, options)
    ensure_generated("ytvos", root, **params)
    return YouTubeVOSDataset(spec, Path(root), **options)
