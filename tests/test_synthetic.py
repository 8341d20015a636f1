"""The synthetic data generators: determinism, the three file layouts, and the staged events
(full occlusion, objects leaving / appearing mid-video, more JHMDB frames than annotations)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat

from vosbench.datasets.synthetic import DEFAULTS, generate_davis, generate_jhmdb, generate_ytvos, read_stamp
from vosbench.datasets.synthetic.figure import ACTIONS, JOINTS
from vosbench.datasets.synthetic.scenarios import davis_scene, jhmdb_scene
from vosbench.core.labels import PALETTE, read_label_png

SMALL = {
    "davis": (generate_davis, {"videos": 2, "frames": 8, "size": (128, 96)}),
    "ytvos": (generate_ytvos, {"videos": 2, "frames": 4, "size": (128, 96)}),
    "jhmdb": (generate_jhmdb, {"videos": 2, "frames": 4, "size": (160, 120)}),
}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ids(path: Path) -> set[int]:
    return set(np.unique(read_label_png(path)).tolist()) - {0}


@pytest.fixture(scope="module")
def davis_demo(tmp_path_factory) -> Path:
    """The default demo set (what `synthetic-davis` generates), timed."""
    out = tmp_path_factory.mktemp("davis") / "synthetic-davis"
    start = time.perf_counter()
    generate_davis(out)
    print(f"\ngenerated the default synthetic-davis set {DEFAULTS['davis']} in {time.perf_counter() - start:.2f} s")
    return out


@pytest.fixture(scope="module")
def ytvos_set(tmp_path_factory) -> Path:
    return generate_ytvos(tmp_path_factory.mktemp("ytvos") / "yt", videos=3, frames=6, size=(160, 96))


@pytest.fixture(scope="module")
def jhmdb_set(tmp_path_factory) -> Path:
    return generate_jhmdb(tmp_path_factory.mktemp("jhmdb") / "jh", videos=4, frames=6)


@pytest.mark.parametrize("kind", list(SMALL))
def test_same_arguments_give_identical_bytes_and_seeds_differ(kind, tmp_path):
    gen, args = SMALL[kind]
    a = _tree(gen(tmp_path / "a", seed=5, **args))
    b = _tree(gen(tmp_path / "b", seed=5, **args))
    assert a.keys() == b.keys() and len(a) > 10
    assert [k for k in a if a[k] != b[k]] == []
    c = _tree(gen(tmp_path / "c", seed=6, **args))
    media = [k for k in a if k.endswith((".jpg", ".png", ".mat"))]
    assert all(a[k] != c.get(k) for k in media if k in c)  # every image / annotation file changes
    stamp = read_stamp(tmp_path / "a")
    assert stamp["kind"] == kind and stamp["params"]["seed"] == 5


def test_more_videos_leave_earlier_videos_unchanged(tmp_path):
    one = _tree(generate_davis(tmp_path / "one", videos=1, frames=6, size=(96, 64)))
    two = _tree(generate_davis(tmp_path / "two", videos=2, frames=6, size=(96, 64)))
    shared = [k for k in one if k.startswith(("JPEGImages", "Annotations"))]
    assert shared and all(one[k] == two[k] for k in shared)


def test_davis_layout(davis_demo):
    p = DEFAULTS["davis"]
    w, h = p["size"]
    names = (davis_demo / "ImageSets/2017/val.txt").read_text().split()
    assert len(names) == p["videos"] and (davis_demo / "ImageSets/2017/train.txt").is_file()
    for seq in names:
        jpgs = sorted((davis_demo / "JPEGImages/480p" / seq).iterdir())
        pngs = sorted((davis_demo / "Annotations/480p" / seq).iterdir())
        assert [f.name for f in jpgs] == [f"{t:05d}.jpg" for t in range(p["frames"])]
        assert [f.stem for f in pngs] == [f.stem for f in jpgs]
        with Image.open(jpgs[0]) as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (w, h))
        with Image.open(pngs[0]) as im:
            assert (im.mode, im.size) == ("P", (w, h))
            assert bytes(im.getpalette()[:30]) == PALETTE[:30]
        first = _ids(pngs[0])
        assert 2 <= len(first) <= 4 and first == set(range(1, len(first) + 1))
        assert all(_ids(f) <= first for f in pngs)  # no object appears after frame 0


def _areas(seq_dir: Path) -> dict[int, list[int]]:
    maps = [read_label_png(f) for f in sorted(seq_dir.iterdir())]
    ids = sorted(set(np.unique(maps[0]).tolist()) - {0})
    return {i: [int((m == i).sum()) for m in maps] for i in ids}


def test_davis_full_occlusion_and_exit(davis_demo):
    occl = _areas(davis_demo / "Annotations/480p/occlusion-0")
    hidden = {
        i: [t for t, a in enumerate(ar) if a == 0 and any(ar[:t]) and any(ar[t + 1 :])] for i, ar in occl.items()
    }
    assert any(hidden.values()), occl
    brief = [len(v) for v in hidden.values() if v]
    assert max(brief) <= DEFAULTS["davis"]["frames"] // 3
    ex = _areas(davis_demo / "Annotations/480p/enter-exit-1")
    assert any(ar[0] > 0 and ar[-1] == 0 for ar in ex.values())  # left the frame for good


def test_davis_objects_move_far_enough(davis_demo):
    """Copying frame 0 must fail: on average the masks overlap their frame-0 mask poorly."""
    ious = []
    for seq in (davis_demo / "ImageSets/2017/val.txt").read_text().split():
        files = sorted((davis_demo / "Annotations/480p" / seq).iterdir())
        first = read_label_png(files[0])
        for f in files[1:-1]:
            m = read_label_png(f)
            for i in _ids(files[0]):
                a, b = first == i, m == i
                ious.append((a & b).sum() / max(1, (a | b).sum()))
    print(f"\nmean IoU of the masks with their frame-0 mask: {np.mean(ious):.3f}")
    assert np.mean(ious) < 0.45


def test_render_correspondences_match_labels():
    scene = davis_scene(np.random.default_rng(1), 2, 128, 96, 8)
    frame = scene.render(3.0, coords=True)
    layer_ids = np.array([0] + [o.obj_id for o in scene.layers])
    assert np.array_equal(layer_ids[frame.coords[..., 0].astype(int)], frame.labels)
    again = scene.render(3.0)
    assert np.array_equal(again.image, frame.image)


def test_ytvos_layout(ytvos_set):
    meta = json.loads((ytvos_set / "valid/meta.json").read_text())
    assert set(meta) == {"videos"} and len(meta["videos"]) == 3
    unseen = set((ytvos_set / "unseen_categories.txt").read_text().split())
    categories, gaps, late = set(), False, False
    for vid, entry in meta["videos"].items():
        assert re.fullmatch(r"[0-9a-f]{10}", vid) and set(entry) == {"objects"}
        frames = sorted(p.stem for p in (ytvos_set / "valid/JPEGImages" / vid).glob("*.jpg"))
        nums = [int(f) for f in frames]
        assert len(frames) == 6 and nums[0] > 0 and all(re.fullmatch(r"\d{5}", f) for f in frames)
        assert np.all(np.diff(nums) == 5)
        gt = {f: read_label_png(ytvos_set / "valid_gt/Annotations" / vid / f"{f}.png") for f in frames}
        first_seen = {}
        for f in frames:
            for i in sorted(set(np.unique(gt[f]).tolist()) - {0}):
                first_seen.setdefault(i, f)
        objs = entry["objects"]
        assert sorted(objs, key=int) == list(objs) and {int(k) for k in objs} == set(first_seen)
        for k, o in objs.items():
            assert set(o) == {"category", "frames"} and isinstance(o["category"], str)
            assert o["frames"] == [f for f in frames if f >= first_seen[int(k)]]
            categories.add(o["category"])
        ids = sorted(int(k) for k in objs)
        gaps |= ids != list(range(1, len(ids) + 1))
        late |= any(f != frames[0] for f in first_seen.values())
        # annotations: first-appearance frames only, each with exactly the newly appearing objects
        annotated = sorted(p.stem for p in (ytvos_set / "valid/Annotations" / vid).glob("*.png"))
        assert annotated == sorted(set(first_seen.values()))
        for f in annotated:
            new = {i for i, ff in first_seen.items() if ff == f}
            lab = read_label_png(ytvos_set / "valid/Annotations" / vid / f"{f}.png")
            assert _ids(ytvos_set / "valid/Annotations" / vid / f"{f}.png") == new
            assert np.array_equal(lab, np.where(np.isin(gt[f], list(new)), gt[f], 0))
        # all-frames tree: consecutive names, annotated frames byte-identical
        allf = sorted((ytvos_set / "all_frames/valid_all_frames/JPEGImages" / vid).glob("*.jpg"))
        assert [int(p.stem) for p in allf] == list(range(nums[0], nums[-1] + 1))
        for f in frames:
            a = (ytvos_set / "all_frames/valid_all_frames/JPEGImages" / vid / f"{f}.jpg").read_bytes()
            assert a == (ytvos_set / "valid/JPEGImages" / vid / f"{f}.jpg").read_bytes()
    assert gaps and late
    assert categories & unseen and categories - unseen


def test_jhmdb_layout(jhmdb_set):
    w, h = DEFAULTS["jhmdb"]["size"]
    mats = sorted(jhmdb_set.glob("joint_positions/*/*/joint_positions.mat"))
    assert len(mats) == 4
    extra = 0
    for mat in mats:
        action, video = mat.parts[-3], mat.parts[-2]
        d = loadmat(mat)
        pos = d["pos_img"]
        assert pos.shape == (2, 15, 6) and d["pos_world"].shape == (2, 15, 6) and d["scale"].shape == (1, 6)
        assert str(d["viewpoint"][0]) in ("E", "W")
        assert (pos[0] >= 1).all() and (pos[0] <= w).all() and (pos[1] >= 1).all() and (pos[1] <= h).all()
        x, y = pos - 1.0  # back to 0-based pixels
        j = {name: i for i, name in enumerate(JOINTS)}
        assert (y[j["face"]] < y[j["neck"]]).all() and (y[j["neck"]] < y[j["belly"]]).all()
        for side in ("right", "left"):
            assert (y[j[f"{side}_ankle"]] > y[j[f"{side}_hip"]]).all()
            w_, e_ = j[f"{side}_wrist"], j[f"{side}_elbow"]
            fore = np.hypot(x[w_] - x[e_], y[w_] - y[e_])
            assert np.ptp(fore / d["scale"][0]) < 1e-6 * fore.mean()  # rigid limb up to the zoom
        pngs = sorted((jhmdb_set / "Rename_Images" / action / video).iterdir())
        assert pngs[0].name == "00001.png" and len(pngs) in (6, 8)
        extra += len(pngs) == 8
        with Image.open(pngs[0]) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (w, h))
        # the frames on disk are the figure's scene, and every joint lies on a drawn limb
        index = ACTIONS.index(action) + len(ACTIONS) * int(video[-2:])
        scene = jhmdb_scene(np.random.default_rng([0, 23, index]), action, w, h, len(pngs))
        assert np.array_equal(np.asarray(Image.open(pngs[-1])), scene.render(len(pngs) - 1).image)
        for t in range(6):
            parts = scene.render(t, image=False).labels
            assert (parts[np.rint(y[:, t]).astype(int), np.rint(x[:, t]).astype(int)] > 0).all()
    assert extra == 1
    for split in (1, 2, 3):
        for f in jhmdb_set.glob(f"splits/*_test_split{split}.txt"):
            for line in f.read_text().splitlines():
                assert re.fullmatch(r"synth_[a-z]+_\d\d\.avi [12]", line), line
    lines = (jhmdb_set / "splits/walk_test_split1.txt").read_text().splitlines()
    assert lines == ["synth_walk_00.avi 2", "synth_walk_01.avi 2"]
