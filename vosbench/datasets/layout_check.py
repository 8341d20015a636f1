"""``vosbench data check``: validate a data folder and say everything that is wrong with it.

A wrong or partial data folder is the most common reason a benchmark silently scores 0 or 1.0.
The loaders stop at the first problem; this check goes through every listed sequence and
collects all of them:

* every listed sequence has frames and its first-frame (first-appearance) annotations;
* frame and annotation counts agree (DAVIS: one annotation per frame, except test-dev) and every
  frame and annotation has the same size within a sequence;
* annotation ids are sane: DAVIS-2016 masks hold only 0 and 255; DAVIS-2017 / YouTube-VOS
  annotations are palette PNGs with ids 1..254 (255 = void) and at least one object in the first
  frame; a later GT frame holds no id that frame 0 lacks (DAVIS);
* YouTube-VOS: ``meta.json`` agrees with the files (every listed frame exists, each object is
  present in its first-appearance annotation, no annotation without a frame);
* JHMDB: every split video has frames and a readable ``joint_positions.mat`` whose frames exist;
* VIP: every part map is readable, of its frame's size, and holds class ids 0..19 (other values,
  e.g. 255, are noted: the scorers ignore them).

Problems are errors; notes are facts worth knowing that do not stop a run (e.g. JHMDB videos
with more frames than annotations, which the loader cuts).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vosbench.core.errors import VosbenchError
from vosbench.core.labels import decode_label_png, is_binary_mask
from vosbench.core.video import VideoSequence


@dataclass
class LayoutReport:
    """The outcome of :func:`check_layout`."""

    dataset: str
    root: Path
    sequences: int = 0
    frames: int = 0
    annotations: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


#: The last bytes of a complete file: JPEG's end-of-image marker, PNG's IEND chunk (searched in
#: the file's tail, which may hold padding after it)
_END_MARKERS = {".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9", ".png": b"IEND"}
_TAIL = 1024


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a data file: not a regular file (a FIFO or device would block the
    reader), or a JPEG/PNG cut short (no end marker in its last bytes)."""
    try:
        st = path.stat()
    except OSError as e:
        return f"{path}: cannot read ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return f"{path}: not a regular file"
    marker = _END_MARKERS.get(path.suffix.lower())
    if marker is not None:
        with open(path, "rb") as f:
            f.seek(max(st.st_size - _TAIL, 0))
            if marker not in f.read():
                return f"{path}: incomplete (the file ends before its {path.suffix.lower().lstrip('.').upper()} end marker); copy or download it again"
    return None


def _image_size(path: Path) -> tuple[int, int] | str:
    """(width, height) from the file header, or why the file is unusable."""
    from PIL import Image, UnidentifiedImageError

    problem = file_problem(path)
    if problem:
        return problem
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return f"{path}: unreadable or not an image"


def _check_frames(seq: VideoSequence, rep: LayoutReport) -> tuple[int, int] | None:
    """Every frame readable, complete and of one size; returns that size."""
    sizes: dict[tuple[int, int], int] = {}
    for p in seq.image_paths:
        s = _image_size(p)
        if isinstance(s, str):
            rep.problems.append(s)
            continue
        sizes[s] = sizes.get(s, 0) + 1
    rep.frames += len(seq.image_paths)
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h} ({n} frames)" for (w, h), n in sorted(sizes.items(), key=lambda kv: -kv[1]))
        rep.problems.append(f"{seq.name}: frames of different sizes in {seq.image_paths[0].parent}: {shown}")
    return max(sizes, key=lambda s: sizes[s]) if sizes else None


def _check_label(path: Path, size: tuple[int, int] | None, binary: bool, rep: LayoutReport) -> np.ndarray | None:
    """Decode one annotation, check its size and ids; returns the id map (``None`` if unusable)."""
    problem = file_problem(path)
    if problem:
        rep.problems.append(problem)
        return None
    try:
        arr, mode = decode_label_png(path)
    except VosbenchError as e:
        rep.problems.append(str(e))
        return None
    rep.annotations += 1
    if size is not None and (arr.shape[1], arr.shape[0]) != size:
        rep.problems.append(f"{path}: annotation is {arr.shape[1]}x{arr.shape[0]}, its frames are {size[0]}x{size[1]}")
    if binary:
        if not is_binary_mask(arr, mode):
            vals = np.unique(arr)
            rep.problems.append(
                f"{path}: DAVIS-2016 masks hold only 0 and 255 (greyscale); this one is mode {mode} with values "
                f"{', '.join(map(str, vals[:8]))}{' ...' if len(vals) > 8 else ''}"
            )
            return None
        return (arr > 128).astype(np.uint8)
    if mode != "P":
        rep.notes.append(f"{path}: greyscale id map (mode {mode}), not a palette PNG; ids are read as the values")
    return arr


def _ids(arr: np.ndarray) -> set[int]:
    return {int(v) for v in np.flatnonzero(np.bincount(arr.ravel(), minlength=256))} - {0, 255}


def _check_vos(seq: VideoSequence, rep: LayoutReport) -> None:
    size = _check_frames(seq, rep)
    if not seq.annotations:
        rep.problems.append(f"{seq.name}: no first-frame annotation")
        return
    starts = seq.object_starts
    first_ids: set[int] = set()
    for t, path in sorted(seq.annotations.items()):
        arr = _check_label(path, size, seq.binary_masks, rep)
        if arr is None:
            continue
        ids = _ids(arr)
        if starts:  # YouTube-VOS: the objects meta.json starts here must be in this PNG
            want = {o for o, s in starts.items() if s == t}
            absent = sorted(want - ids)
            if absent:
                rep.problems.append(
                    f"{path}: meta.json says object(s) {', '.join(map(str, absent))} first appear in frame "
                    f"{seq.frames[t]}, but this annotation has no pixel with that id (ids present: "
                    f"{', '.join(map(str, sorted(ids))) or 'none'})"
                )
            first_ids |= want
        else:
            first_ids |= ids
            if not ids:
                rep.problems.append(f"{path}: the first-frame annotation has no object (only background/void)")
            elif not seq.binary_masks and sorted(ids) != list(range(1, max(ids) + 1)):
                rep.notes.append(
                    f"{path}: object ids {sorted(ids)} are not 1..{max(ids)}; the official DAVIS rules score "
                    f"every id 1..{max(ids)} (a missing id scores as an absent object)"
                )
    # later GT frames (DAVIS val/train, full YouTube-VOS GT): sizes, and no id frame 0 lacks
    if seq.gt:
        for t, path in sorted(seq.gt.items()):
            if t in seq.annotations and path == seq.annotations[t]:
                continue
            arr = _check_label(path, size, seq.binary_masks, rep)
            if arr is None:
                continue
            extra = sorted(_ids(arr) - first_ids - ({1} if seq.binary_masks else set()))
            if extra and not starts:
                rep.problems.append(
                    f"{path}: ids {', '.join(map(str, extra))} are not in the first-frame annotation; "
                    f"semi-supervised propagation can never predict them"
                )
            elif extra:
                rep.problems.append(f"{path}: ids {', '.join(map(str, extra))} are not objects in meta.json")


def _check_ytvos_extras(ds: Any, rep: LayoutReport) -> None:
    """Files meta.json does not know: videos without an entry, annotations without a frame."""
    listed = set(ds.meta)
    on_disk = {p.name for p in ds.image_dir.iterdir() if p.is_dir()} if ds.image_dir.is_dir() else set()
    extra = sorted(on_disk - listed)
    if extra:
        rep.notes.append(
            f"{ds.image_dir}: {len(extra)} video folder(s) not in {ds.meta_path}, ignored: {', '.join(extra[:5])}"
            + (" ..." if len(extra) > 5 else "")
        )
    for vid in sorted(listed & on_disk):
        adir = ds.anno_dir / vid
        if not adir.is_dir():
            continue
        frames = {p.stem for p in (ds.image_dir / vid).iterdir()}
        orphans = sorted(p.name for p in adir.glob("*.png") if p.stem not in frames)
        if orphans:
            rep.problems.append(f"{adir}: annotation(s) without a frame in {ds.image_dir / vid}: {', '.join(orphans[:5])}")


def _check_pose(seq: VideoSequence, rep: LayoutReport) -> None:
    size = _check_frames(seq, rep)
    kps = seq.keypoints
    if kps is None:
        rep.problems.append(f"{seq.name}: no joint positions")
        return
    rep.annotations += 1
    n_png, n_ann = seq.meta.get("png_frames"), seq.meta.get("annotated_frames")
    if isinstance(n_png, int) and isinstance(n_ann, int) and n_png < n_ann:
        rep.problems.append(
            f"{seq.name}: {n_ann} annotated frames in joint_positions.mat but only {n_png} frame PNGs; "
            f"frames 00001.. are missing (the video would be cut to {len(seq)} frames)"
        )
    if not np.isfinite(kps[0]).any():
        rep.problems.append(f"{seq.name}: the first frame has no annotated joint")
    for path in seq.gt.values():  # BADJA: the segmentations of the annotated frames (the PCK normaliser)
        _check_label(path, size, False, rep)
    if size is not None:
        w, h = size
        far = np.nanmax(np.abs(kps)) if np.isfinite(kps).any() else 0.0
        if far > 4 * max(w, h):
            rep.problems.append(
                f"{seq.name}: joint coordinates reach {far:.0f} px on {w}x{h} frames; is pos_img in pixels?"
            )


def _check_points(seq: VideoSequence, rep: LayoutReport) -> None:
    """A TAP-Vid video (its arrays were checked when the pickle was indexed): count it, and say
    when no track is visible anywhere (nothing of it would be scored)."""
    entry = getattr(seq, "entry", None)
    if entry is None:
        rep.problems.append(f"{seq.name}: not a TAP-Vid video")
        return
    rep.frames += entry.frames
    rep.annotations += entry.tracks
    if not (~entry.occluded()).any():
        rep.notes.append(f"{seq.name}: no track is visible in any frame; nothing of this video is scored")


def check_layout(name: str, root: str | os.PathLike[str] | None = None, **options: Any) -> LayoutReport:
    """Validate dataset ``name`` at ``root`` (default: where ``vosbench run`` would look)."""
    from vosbench.datasets.factory import dataset_root, load_dataset

    try:
        r = dataset_root(name, root)
    except VosbenchError as e:
        rep = LayoutReport(name, Path(root) if root is not None else Path("."))
        rep.problems.append(str(e))
        return rep
    rep = LayoutReport(name, r)
    try:
        ds = load_dataset(name, r, **options)
        seq_names = ds.sequence_names()
    except VosbenchError as e:
        rep.problems.append(str(e))
        return rep
    if not seq_names:
        rep.problems.append(f"{r}: the split lists no sequence")
        return rep
    rep.notes.extend(getattr(ds, "notes", []))  # e.g. TAP-Vid-Kinetics clips that are missing
    for n in seq_names:
        try:
            seq = ds.sequence(n)
        except VosbenchError as e:
            rep.problems.append(str(e))
            continue
        rep.sequences += 1
        if ds.task == "pose":
            _check_pose(seq, rep)
        elif ds.task == "parsing":
            _check_parsing(seq, rep)
        elif ds.task == "points":
            _check_points(seq, rep)
        else:
            _check_vos(seq, rep)
    if hasattr(ds, "meta") and hasattr(ds, "anno_dir"):
        _check_ytvos_extras(ds, rep)
    return rep


#: VIP's classes (vosbench.scoring.parsing.N_CLASSES; datasets do not import scoring)
_VIP_CLASSES = 20


def _check_parsing(seq: VideoSequence, rep: LayoutReport) -> None:
    """VIP part maps: readable, the frame's size, class ids 0..19 (others are ignored when scoring)."""
    size = _check_frames(seq, rep)
    for t, path in sorted(seq.gt.items()):
        problem = file_problem(path)
        if problem:
            rep.problems.append(problem)
            continue
        try:
            arr, _ = decode_label_png(path)
        except VosbenchError as e:
            rep.problems.append(str(e))
            continue
        rep.annotations += 1
        if size is not None and (arr.shape[1], arr.shape[0]) != size:
            rep.problems.append(f"{path}: part map is {arr.shape[1]}x{arr.shape[0]}, its frames are {size[0]}x{size[1]}")
        other = sorted(int(v) for v in np.unique(arr) if v >= _VIP_CLASSES)
        if other:
            rep.notes.append(f"{path}: values {', '.join(map(str, other[:5]))} are not VIP classes (0..19); not scored")
        if t == 0 and not (arr[arr < _VIP_CLASSES] > 0).any():
            rep.problems.append(f"{path}: the first frame's part map has no part (only background); nothing to propagate")
