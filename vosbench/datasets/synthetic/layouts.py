"""Writers of the synthetic sets in the file layouts of DAVIS-2017, YouTube-VOS and JHMDB.

Each ``generate_*`` function writes one complete dataset folder and returns its path. Output is
a pure function of the arguments: the same arguments give byte-identical files (fixed encoder
settings, no timestamps; the MAT-file header text is fixed). Video ``i`` is drawn from
``numpy.random.default_rng([seed, code, i])`` (code 17 for davis, 19 for ytvos, 23 for jhmdb), so
adding videos leaves the earlier ones unchanged.
Each folder also gets a stamp file, ``vosbench_synthetic.json``, naming the generator version and
the arguments (see :mod:`vosbench.datasets.synthetic.cache`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from vosbench.datasets.badja_joints import SMAL_INDEX, SMAL_JOINTS
from vosbench.datasets.synthetic.animal import badja_scene, joint_visibility
from vosbench.datasets.synthetic.scenarios import (
    UNSEEN_CATEGORIES,
    davis_scenario,
    davis_scene,
    jhmdb_scene,
    ytvos_scene,
)
from vosbench.core.errors import ConfigError
from vosbench.core.labels import encode_label_png

# Bump whenever the generator's output changes, so that cached sets are regenerated.
GENERATOR_VERSION = 2
STAMP = "vosbench_synthetic.json"
KINDS = ("davis", "ytvos", "jhmdb", "badja")
_KIND_CODE = {"davis": 17, "ytvos": 19, "jhmdb": 23, "badja": 29}
YTVOS_STEP = 5  # annotated frames are every 5th frame of the 30 fps video

DEFAULTS: dict[str, dict[str, Any]] = {
    "davis": {"videos": 3, "frames": 24, "size": (432, 240), "seed": 0, "split": "val"},
    "ytvos": {"videos": 3, "frames": 10, "size": (384, 216), "seed": 0, "all_frames": True},
    "jhmdb": {"videos": 3, "frames": 20, "size": (320, 240), "seed": 0},
    "badja": {"videos": 3, "frames": 16, "size": (384, 216), "seed": 0},
}
#: the list files a generated DAVIS-layout set may name its sequences in (ImageSets/2017/<split>.txt)
DAVIS_SPLITS = ("val", "train")
_MIN_FRAMES = {"davis": 5, "ytvos": 3, "jhmdb": 2, "badja": 8}


def normalize_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Fill in defaults and check a generator's arguments.

    Raises:
        ConfigError: unknown kind or argument, or a value out of range.
    """
    if kind not in DEFAULTS:
        raise ConfigError(f"unknown synthetic dataset kind {kind!r}; choose one of {', '.join(KINDS)}")
    unknown = sorted(set(params) - set(DEFAULTS[kind]))
    if unknown:
        raise ConfigError(
            f"synthetic {kind}: unknown argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(DEFAULTS[kind])}"
        )
    p = {**DEFAULTS[kind], **{k: v for k, v in params.items() if v is not None}}
    try:
        w, h = (int(x) for x in p["size"])
    except (TypeError, ValueError):
        raise ConfigError(f"synthetic {kind}: size must be (width, height), got {p['size']!r}") from None
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise ConfigError(f"synthetic {kind}: size {w}x{h} out of range; width and height must be 64..4096")
    p["size"] = (w, h)
    for key, lo, hi in (("videos", 1, 999), ("frames", _MIN_FRAMES[kind], 2000), ("seed", 0, 2**63 - 1)):
        v = p[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= int(v) <= hi:
            raise ConfigError(f"synthetic {kind}: {key} must be an integer in {lo}..{hi}, got {v!r}")
        p[key] = int(v)
    if "all_frames" in p:
        p["all_frames"] = bool(p["all_frames"])
    if "split" in p and p["split"] not in DAVIS_SPLITS:
        raise ConfigError(f"synthetic {kind}: split must be one of {', '.join(DAVIS_SPLITS)}, got {p['split']!r}")
    return p


def stamp_dict(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """What the stamp file records: generator, version, kind, the (normalised) arguments."""
    p = dict(params)
    p["size"] = list(p["size"])
    return {
        "generator": "vosbench.datasets.synthetic",
        "version": GENERATOR_VERSION,
        "kind": kind,
        "params": p,
    }


def _write_stamp(out: Path, kind: str, params: dict[str, Any]) -> None:
    (out / STAMP).write_text(json.dumps(stamp_dict(kind, params), indent=2, sort_keys=True) + "\n")


def _rng(kind: str, seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _KIND_CODE[kind], index])


def _image(img: np.ndarray | None) -> np.ndarray:
    if img is None:  # pragma: no cover - scenes render images unless told not to
        raise ValueError("the scene rendered no image")
    return img


def _jpeg(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGB").save(buf, format="JPEG", quality=90, subsampling=2, optimize=False)
    return buf.getvalue()


def _png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # level 1: the grainy frames barely compress better at higher levels, which are 4x slower
    Image.fromarray(img, mode="RGB").save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _prepare(out: str | Path) -> Path:
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder; pick another output folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def generate_davis(
    out: str | Path,
    videos: int = DEFAULTS["davis"]["videos"],
    frames: int = DEFAULTS["davis"]["frames"],
    size: tuple[int, int] = DEFAULTS["davis"]["size"],
    seed: int = DEFAULTS["davis"]["seed"],
    split: str = DEFAULTS["davis"]["split"],
) -> Path:
    """Write a DAVIS-2017-layout set of ``videos`` sequences of ``frames`` frames each.

    Files written (``W x H = size``):

    * ``JPEGImages/480p/<seq>/00000.jpg ...`` RGB JPEG (quality 90), one per frame;
    * ``Annotations/480p/<seq>/00000.png ...`` palette PNG (DAVIS palette) for *every* frame,
      pixel = object id 1..K (K = 2-4 per video, all present in frame 0), 0 = background;
    * ``ImageSets/2017/<split>.txt`` (sequence names, one per line, in generation order) and the
      other list (``train.txt`` or ``val.txt``) empty;
    * ``vosbench_synthetic.json`` (generator version and arguments).

    Sequence ``i`` is named ``<scenario>-<i>``: ``occlusion-0`` (object hidden completely by
    another for a few mid-video frames), ``enter-exit-1`` (one object leaves the frame, one
    enters), then ``drift-<i>``.

    Args:
        out: Output folder (created; existing files with the same names are overwritten).
        videos: Number of sequences.
        frames: Frames per sequence (>= 5).
        size: (width, height) in pixels.
        seed: Random seed.
        split: ``val`` or ``train``: the list file that names the sequences.

    Returns:
        The output folder.
    """
    p = normalize_params("davis", {"videos": videos, "frames": frames, "size": size, "seed": seed, "split": split})
    out = _prepare(out)
    (w, h), n = p["size"], p["frames"]
    names = []
    for i in range(p["videos"]):
        scene = davis_scene(_rng("davis", p["seed"], i), i, w, h, n)
        name = f"{davis_scenario(i)}-{i}"
        names.append(name)
        for t in range(n):
            frame = scene.render(t)
            _put(out / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", _jpeg(_image(frame.image)))
            _put(out / "Annotations" / "480p" / name / f"{t:05d}.png", encode_label_png(frame.labels))
    sets = out / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    for listed in DAVIS_SPLITS:
        (sets / f"{listed}.txt").write_text("".join(f"{s}\n" for s in names) if listed == p["split"] else "")
    _write_stamp(out, "davis", p)
    return out


def generate_ytvos(
    out: str | Path,
    videos: int = DEFAULTS["ytvos"]["videos"],
    frames: int = DEFAULTS["ytvos"]["frames"],
    size: tuple[int, int] = DEFAULTS["ytvos"]["size"],
    seed: int = DEFAULTS["ytvos"]["seed"],
    all_frames: bool = DEFAULTS["ytvos"]["all_frames"],
) -> Path:
    """Write a YouTube-VOS-layout ``valid`` set (plus the ground truth real ``valid`` lacks).

    Each video has ``frames`` annotated frames, taken every 5th frame of a 30 fps clip of
    ``5 (frames - 1) + 1`` frames. Frame names are 5-digit original frame indices starting at a
    multiple of 5 between 00005 and 00030 (never 00000) and stepping by 5. Video ids are 10 hex
    digits. Files written:

    * ``valid/JPEGImages/<vid>/<frame>.jpg``: the annotated frames (RGB JPEG, quality 90);
    * ``valid/Annotations/<vid>/<frame>.png``: palette PNGs only for frames where at least one
      object first appears, each holding *only* the objects that first appear in that frame
      (like the real valid set); ids are not always contiguous (video 0 uses 1, 3 and 4);
    * ``valid/meta.json``: ``{"videos": {vid: {"objects": {"<id>": {"category": str, "frames":
      [frame names]}}}}}``; an object's ``frames`` run from its first appearance to the last
      annotated frame (the frames whose predictions are expected), ids in increasing order;
    * ``valid_gt/Annotations/<vid>/<frame>.png``: full ground truth (every object) for every
      annotated frame. Not part of the real layout (the real valid GT is private); it is what
      lets vosbench score the synthetic set;
    * ``unseen_categories.txt``: categories to count as "unseen" (one per line: ``star``,
      ``box``); the others (``ellipse``, ``blob``) are "seen". Categories are the shape kinds;
    * with ``all_frames``: ``all_frames/valid_all_frames/JPEGImages/<vid>/<frame>.jpg`` for every
      frame of the clip, consecutive names from the first annotated frame's name (the annotated
      frames are byte-identical to the ``valid/JPEGImages`` ones);
    * ``vosbench_synthetic.json`` (generator version and arguments).

    Video 0 has an object (id 4) that first appears in the middle annotated frame; video 1 has an
    object fully hidden by another for some annotated frames.

    Args:
        out: Output folder (created).
        videos: Number of videos.
        frames: Annotated frames per video (>= 3).
        size: (width, height) in pixels.
        seed: Random seed.
        all_frames: Also write the all-frames tree.

    Returns:
        The output folder.
    """
    p = normalize_params(
        "ytvos", {"videos": videos, "frames": frames, "size": size, "seed": seed, "all_frames": all_frames}
    )
    out = _prepare(out)
    meta: dict[str, Any] = {"videos": {}}
    for i in range(p["videos"]):
        vid, objects = _write_ytvos_video(out, i, p)
        meta["videos"][vid] = {"objects": objects}
    (out / "valid" / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "unseen_categories.txt").write_text("".join(f"{c}\n" for c in UNSEEN_CATEGORIES))
    _write_stamp(out, "ytvos", p)
    return out


def _write_ytvos_video(out: Path, i: int, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Write video ``i`` of :func:`generate_ytvos` (frames, full GT, first-appearance PNGs); return
    its id and its ``meta.json`` objects."""
    (w, h), n = p["size"], p["frames"]
    valid, gt_dir = out / "valid", out / "valid_gt" / "Annotations"
    all_dir = out / "all_frames" / "valid_all_frames" / "JPEGImages"
    rng = _rng("ytvos", p["seed"], i)
    scene = ytvos_scene(rng, i, w, h, n)
    vid = f"{int(rng.integers(0, 16**10)):010x}"
    first = YTVOS_STEP * int(rng.integers(1, 7))
    names: list[str] = []
    labels: list[np.ndarray] = []
    for r in range(YTVOS_STEP * (n - 1) + 1):
        annotated = r % YTVOS_STEP == 0
        if not (annotated or p["all_frames"]):
            continue
        frame = scene.render(r / YTVOS_STEP)
        name = f"{first + r:05d}"
        jpg = _jpeg(_image(frame.image))
        if p["all_frames"]:
            _put(all_dir / vid / f"{name}.jpg", jpg)
        if annotated:
            names.append(name)
            labels.append(frame.labels)
            _put(valid / "JPEGImages" / vid / f"{name}.jpg", jpg)
            _put(gt_dir / vid / f"{name}.png", encode_label_png(frame.labels))
    categories = {obj.obj_id: obj.category for obj in scene.layers}
    first_seen: dict[int, int] = {}
    for k, lab in enumerate(labels):
        for obj_id in np.unique(lab):
            if obj_id and int(obj_id) not in first_seen:
                first_seen[int(obj_id)] = k
    for k in sorted(set(first_seen.values())):
        new = [obj_id for obj_id, kk in first_seen.items() if kk == k]
        only_new = np.where(np.isin(labels[k], new), labels[k], 0).astype(np.uint8)
        _put(valid / "Annotations" / vid / f"{names[k]}.png", encode_label_png(only_new))
    objects = {
        str(obj_id): {"category": categories[obj_id], "frames": names[first_seen[obj_id] :]}
        for obj_id in sorted(first_seen)
    }
    return vid, objects


def _mat_bytes(fields: dict[str, Any]) -> bytes:
    """A MATLAB 5 MAT-file; the free-text header (normally holding a timestamp) is fixed."""
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, fields, format="5", do_compression=False, oned_as="row")
    data = bytearray(buf.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, written by the vosbench synthetic JHMDB generator".ljust(116, b" ")
    return bytes(data)


def generate_jhmdb(
    out: str | Path,
    videos: int = DEFAULTS["jhmdb"]["videos"],
    frames: int = DEFAULTS["jhmdb"]["frames"],
    size: tuple[int, int] = DEFAULTS["jhmdb"]["size"],
    seed: int = DEFAULTS["jhmdb"]["seed"],
) -> Path:
    """Write a JHMDB-layout set: a textured stick figure walking, waving or squatting.

    Video ``i`` does action ``("walk", "wave", "squat")[i % 3]`` and is named
    ``synth_<action>_<i // 3:02d>``. Files written:

    * ``Rename_Images/<action>/<video>/00001.png ...``: RGB PNG frames, 1-based names; video 0 has
      ``frames + 2`` PNGs (more frames than annotations, as in real JHMDB), the others ``frames``;
    * ``joint_positions/<action>/<video>/joint_positions.mat`` (MATLAB 5): ``pos_img`` float64
      [2, 15, frames], MATLAB 1-based pixel coordinates (row 0 = x, row 1 = y; 0-based position
      + 1), joints in JHMDB order (neck, belly, face, right/left shoulder, right/left hip,
      right/left elbow, right/left knee, right/left wrist, right/left ankle), all inside the frame;
      ``pos_world`` [2, 15, frames]: joints relative to the pelvis in units of the figure's
      height; ``scale`` [1, frames]: figure height / frame height; ``viewpoint``: ``"E"`` (facing
      right) or ``"W"``;
    * ``splits/<action>_test_split<k>.txt`` for k = 1, 2, 3: lines ``<video>.avi <1|2>`` (1 = train,
      2 = test); the j-th video of an action is train in split k iff ``j % 3 == (k + 1) % 3``, so
      with fewer than three videos per action everything is test in split 1;
    * ``vosbench_synthetic.json`` (generator version and arguments).

    Args:
        out: Output folder (created).
        videos: Number of videos.
        frames: Annotated frames per video (>= 2).
        size: (width, height) in pixels; JHMDB frames are 320x240.
        seed: Random seed.

    Returns:
        The output folder.
    """
    from vosbench.datasets.synthetic.figure import ACTIONS

    p = normalize_params("jhmdb", {"videos": videos, "frames": frames, "size": size, "seed": seed})
    out = _prepare(out)
    (w, h), n = p["size"], p["frames"]
    per_action: dict[str, list[str]] = {}
    for i in range(p["videos"]):
        action = ACTIONS[i % len(ACTIONS)]
        name = f"synth_{action}_{i // len(ACTIONS):02d}"
        per_action.setdefault(action, []).append(name)
        n_png = n + 2 if i == 0 else n
        scene = jhmdb_scene(_rng("jhmdb", p["seed"], i), action, w, h, n_png)
        figure = scene.layers[0].figure
        for t in range(n_png):
            _put(out / "Rename_Images" / action / name / f"{t + 1:05d}.png", _png(_image(scene.render(t).image)))
        joints = np.stack([figure.joints(t) for t in range(n)], -1)  # (15, 2, T), 0-based
        pelvis = np.stack([figure.points(t)["pelvis"] for t in range(n)], -1)  # (2, T)
        heights = np.array([figure.height * figure.zoom(t) for t in range(n)])
        fields = {
            "pos_img": np.ascontiguousarray(joints.transpose(1, 0, 2) + 1.0),
            "pos_world": np.ascontiguousarray((joints.transpose(1, 0, 2) - pelvis[:, None, :]) / heights),
            "scale": (heights / h)[None, :],
            "viewpoint": "E" if figure.facing > 0 else "W",
        }
        _put(out / "joint_positions" / action / name / "joint_positions.mat", _mat_bytes(fields))
    for action, names in per_action.items():
        for k in (1, 2, 3):
            lines = "".join(f"{v}.avi {1 if j % 3 == (k + 1) % 3 else 2}\n" for j, v in enumerate(names))
            _put(out / "splits" / f"{action}_test_split{k}.txt", lines.encode())
    _write_stamp(out, "jhmdb", p)
    return out


def generate_badja(
    out: str | Path,
    videos: int = DEFAULTS["badja"]["videos"],
    frames: int = DEFAULTS["badja"]["frames"],
    size: tuple[int, int] = DEFAULTS["badja"]["size"],
    seed: int = DEFAULTS["badja"]["seed"],
) -> Path:
    """Write a BADJA-layout set: a textured quadruped walking (:mod:`.animal`).

    Video ``i`` is named ``quadruped-<i>``. Files written:

    * ``DAVIS/JPEGImages/Full-Resolution/<video>/00000.jpg ...``: every frame (RGB JPEG);
    * ``DAVIS/Annotations/Full-Resolution/<video>/00000.png ...``: palette PNG of every frame,
      1 = the animal;
    * ``joint_annotations/<video>.json``: BADJA's format for the frames ``i % 3``, then every 5th
      (one step of 2, as in BADJA's own files): 37 ``[row, col]`` integer joints (the 17 SMAL
      entries BADJA does not score are ``[0, 0]``, invisible) and 37 visibilities; a joint hidden
      behind another part is invisible. In video 1 the first annotated frame's ``tail_6`` is
      ``[0, 0]``, invisible (BADJA's unannotated joints look like that);
    * ``joint_annotations/zz_extra.json``: a video under ``extra_videos/`` without frames, as
      BADJA's ``tiger`` (the adapter leaves it out);
    * ``vosbench_synthetic.json`` (generator version and arguments).
    """
    p = normalize_params("badja", {"videos": videos, "frames": frames, "size": size, "seed": seed})
    out = _prepare(out)
    (w, h), n = p["size"], p["frames"]
    for i in range(p["videos"]):
        name = f"quadruped-{i}"
        scene = badja_scene(_rng("badja", p["seed"], i), w, h, n)
        animal = scene.layers[0].figure
        annotated = {*range(i % 3, n, 5), *([i % 3 + 7] if i % 3 + 7 < n else [])}
        entries = []
        for t in range(n):
            frame = scene.render(t)
            _put(out / "DAVIS" / "JPEGImages" / "Full-Resolution" / name / f"{t:05d}.jpg", _jpeg(_image(frame.image)))
            png = encode_label_png((frame.labels > 0).astype(np.uint8))
            _put(out / "DAVIS" / "Annotations" / "Full-Resolution" / name / f"{t:05d}.png", png)
            if t in annotated:
                entries.append(_badja_entry(name, t, animal.joints(t), joint_visibility(animal, frame.labels, t)))
        if i == 1:
            entries[0]["joints"][31], entries[0]["visibility"][31] = [0, 0], False
        _put(out / "joint_annotations" / f"{name}.json", json.dumps(entries).encode())
    extra = [
        {
            "image_path": "extra_videos/zz/rgb/0000.png",
            "segmentation_path": "extra_videos/zz/segmentations/0000.png",
            "joints": [[0, 0]] * SMAL_JOINTS,
            "visibility": [False] * SMAL_JOINTS,
        }
    ]
    _put(out / "joint_annotations" / "zz_extra.json", json.dumps(extra).encode())
    _write_stamp(out, "badja", p)
    return out


def _badja_entry(name: str, t: int, xy: np.ndarray, visible: np.ndarray) -> dict[str, Any]:
    """One annotated frame in BADJA's JSON format (37 SMAL entries; the 20 scored ones filled)."""
    joints = [[0, 0] for _ in range(SMAL_JOINTS)]
    vis = [False] * SMAL_JOINTS
    for j, k in enumerate(SMAL_INDEX):
        joints[k] = [int(round(xy[j, 1])), int(round(xy[j, 0]))]
        vis[k] = bool(visible[j])
    return {
        "segmentation_path": f"DAVIS/Annotations/Full-Resolution/{name}/{t:05d}.png",
        "image_path": f"DAVIS/JPEGImages/Full-Resolution/{name}/{t:05d}.jpg",
        "visibility": vis,
        "joints": joints,
    }


GENERATORS: dict[str, Callable[..., Path]] = {
    "davis": generate_davis,
    "ytvos": generate_ytvos,
    "jhmdb": generate_jhmdb,
    "badja": generate_badja,
}
