"""YouTube-VOS adapter on files written here in the exact official layout (meta.json structure,
5-digit original frame names that start at 00010 and step by 5, first-appearance PNGs only,
non-contiguous ids, the all-frames release), and a full run on it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosbench.datasets.ytvos import YouTubeVOSDataset
from vosbench.core.errors import DatasetLayoutError
from vosbench.core.labels import PALETTE, read_label_png
from vosbench.core.registry import datasets

W, H = 64, 48
SIX = [f"{n:05d}" for n in range(10, 50, 5)]  # 00010 ... 00045: 8 annotated-rate frames
ALL = [f"{n:05d}" for n in range(10, 46)]  # the 30 fps release of the same span
CAT = {2: "person", 5: "zebra", 7: "truck"}  # ids are not contiguous


def _png(path: Path, ids: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(ids.astype(np.uint8), mode="P")
    im.putpalette(PALETTE)
    im.save(path)


def _scene(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame number n (30 fps index): a red square moving right (id 2), a blue one from frame 25
    (id 5), a green one from frame 35 (id 7) on a fixed grey-noise background."""
    rng = np.random.default_rng(0)
    img = (rng.uniform(90, 140, (H, W, 1)) * np.ones((1, 1, 3))).astype(np.uint8)
    ids = np.zeros((H, W), np.uint8)
    x = 4 + (n - 10) // 2
    img[10:22, x : x + 12] = (220, 30, 30)
    ids[10:22, x : x + 12] = 2
    if n >= 25:
        img[28:40, 40:52] = (30, 30, 220)
        ids[28:40, 40:52] = 5
    if n >= 35:
        img[30:42, 4:16] = (30, 200, 30)
        ids[30:42, 4:16] = 7
    return img, ids


def write_ytvos(root: Path, *, all_frames: bool = False, gt: bool = True, split: str = "valid") -> Path:
    """The official YouTube-VOS tree under ``root``: one video ``a1b2c3d4e5``."""
    vid = "a1b2c3d4e5"
    base = root / split
    first = {2: "00010", 5: "00025", 7: "00035"}
    for name in SIX:
        img, ids = _scene(int(name))
        (base / "JPEGImages" / vid).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(base / "JPEGImages" / vid / f"{name}.jpg", quality=95)
        if split == "train":
            _png(base / "Annotations" / vid / f"{name}.png", ids)
        else:
            if name in first.values():
                # the valid PNG of a first-appearance frame; it also carries an *older* object (2)
                # whose pixels must not be trusted (valid annotations are not exhaustive)
                _png(base / "Annotations" / vid / f"{name}.png", ids)
            if gt:
                _png(root / f"{split}_gt" / "Annotations" / vid / f"{name}.png", ids)
    if all_frames:
        d = root / "all_frames" / f"{split}_all_frames" / "JPEGImages" / vid
        d.mkdir(parents=True, exist_ok=True)
        for name in ALL:
            Image.fromarray(_scene(int(name))[0]).save(d / f"{name}.jpg", quality=95)
    meta = {
        "videos": {
            vid: {
                "objects": {
                    str(k): {"category": CAT[k], "frames": [f for f in SIX if int(f) >= int(first[k])]}
                    for k in (2, 5, 7)
                }
            }
        }
    }
    (base / "meta.json").write_text(json.dumps(meta))
    return root


def _ds(root: Path, name: str = "ytvos18-val", **opts) -> YouTubeVOSDataset:
    spec = datasets.get(name)
    return YouTubeVOSDataset(spec, root, **{**spec.options, **opts})


def test_reads_official_layout(tmp_path):
    root = write_ytvos(tmp_path)
    ds = _ds(root)
    assert ds.sequence_names() == ["a1b2c3d4e5"]
    seq = ds.sequence("a1b2c3d4e5")
    assert seq.frames == SIX  # original 5-digit names, starting at 00010
    assert sorted(seq.annotations) == [0, 3, 5]  # 00010, 00025, 00035: first appearances
    assert seq.output_frames == list(range(8))
    assert seq.objects[5]["category"] == "zebra" and seq.object_starts == {2: 0, 5: 3, 7: 5}
    # the PNG of frame 00025 keeps only the object that starts there (5), not the older 2
    a = seq.read_annotation(3)
    assert set(np.unique(a)) == {0, 5}
    assert set(np.unique(read_label_png(seq.annotations[3]))) == {0, 2, 5}
    assert sorted(seq.gt) == list(range(8))  # valid_gt/Annotations is picked up
    assert ds.submission_prefix == "Annotations/"


def test_split_folder_as_root_and_no_gt(tmp_path):
    root = write_ytvos(tmp_path, gt=False)
    ds = _ds(root / "valid")
    seq = ds.sequence("a1b2c3d4e5")
    assert seq.gt == {} and len(seq.frames) == 8


def test_all_frames_release(tmp_path):
    root = write_ytvos(tmp_path, all_frames=True)
    seq = _ds(root).sequence("a1b2c3d4e5")
    assert seq.frames == ALL
    assert [seq.frames[t] for t in seq.outputs()] == SIX  # written: the meta.json frames only
    assert [seq.frames[t] for t in sorted(seq.annotations)] == ["00010", "00025", "00035"]
    assert [seq.frames[t] for t in sorted(seq.gt)] == SIX
    assert _ds(root, all_frames=False).sequence("a1b2c3d4e5").frames == SIX


def test_categories_from_train_meta_and_from_file(tmp_path):
    root = write_ytvos(tmp_path)
    assert _ds(root).unseen is None  # no category information at all
    (root / "train").mkdir()
    (root / "train" / "meta.json").write_text(
        json.dumps({"videos": {"x": {"objects": {"1": {"category": "person", "frames": ["00000"]}}}}})
    )
    assert _ds(root).unseen == {"zebra", "truck"}
    (root / "unseen_categories.txt").write_text("truck\n")
    assert _ds(root).unseen == {"truck"}


def test_train_heldout_subset(tmp_path):
    root = write_ytvos(tmp_path, split="train")
    meta = json.loads((root / "train" / "meta.json").read_text())
    for i in range(25):  # more videos, listed only in meta.json
        meta["videos"][f"v{i:02d}"] = {"objects": {"1": {"category": "cat", "frames": ["00000"]}}}
    (root / "train" / "meta.json").write_text(json.dumps(meta))
    ds = _ds(root, "ytvos18-train")
    assert ds.sequence_names() == sorted(meta["videos"])[::10]
    assert ds.submission_prefix is None
    lst = tmp_path / "heldout.txt"
    lst.write_text("a1b2c3d4e5\n")
    ds = _ds(root, "ytvos18-train", heldout=lst)
    seq = ds.sequence("a1b2c3d4e5")
    assert sorted(seq.gt) == list(range(8))  # train Annotations are the GT
    assert set(np.unique(seq.read_annotation(3))) == {0, 5}
    assert ds.unseen == set()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: m.pop("videos"), '"videos"'),
        (lambda m: m["videos"]["a1b2c3d4e5"]["objects"]["2"].update(frames=[]), "non-empty list"),
        (lambda m: m["videos"]["a1b2c3d4e5"]["objects"].update({"x": {"frames": ["00010"]}}), "not an integer"),
        (lambda m: m["videos"]["a1b2c3d4e5"]["objects"]["2"]["frames"].append("00099"), "00099"),
    ],
)
def test_bad_meta_is_a_clear_error(tmp_path, mutate, message):
    root = write_ytvos(tmp_path)
    meta = json.loads((root / "valid" / "meta.json").read_text())
    mutate(meta)
    (root / "valid" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetLayoutError, match=message.replace("(", r"\(")):
        _ds(root).sequence("a1b2c3d4e5")


def test_missing_first_appearance_png(tmp_path):
    root = write_ytvos(tmp_path)
    (root / "valid" / "Annotations" / "a1b2c3d4e5" / "00025.png").unlink()
    with pytest.raises(DatasetLayoutError, match="first appear in frame 00025"):
        _ds(root).sequence("a1b2c3d4e5")


def test_run_on_official_layout(tmp_path):
    """Mid-video objects never predicted early, one PNG per meta frame in the zip, seen/unseen."""
    from vosbench.runs import RunConfig, run

    root = write_ytvos(tmp_path / "data")
    (root / "unseen_categories.txt").write_text("zebra\n")
    res = run(RunConfig(model="lab", dataset="ytvos18-val", data_root=str(root), out=str(tmp_path / "runs"), device="cpu"))
    pred = res.run_dir / "predictions" / "a1b2c3d4e5"
    assert sorted(p.stem for p in pred.glob("*.png")) == SIX
    for name in SIX:
        ids = np.asarray(Image.open(pred / f"{name}.png"))
        assert ids.shape == (H, W)
        if int(name) < 25:
            assert 5 not in ids and 7 not in ids
        elif int(name) < 35:
            assert 7 not in ids
    with zipfile.ZipFile(res.record["submission_zip"]) as zf:
        assert sorted(zf.namelist()) == [f"Annotations/a1b2c3d4e5/{n}.png" for n in SIX]
    m = res.record["metrics"]
    objs = {s.object: s for s in res.scores}
    assert sorted(objs) == [2, 5, 7]
    assert m["J_unseen"] == pytest.approx(objs[5].J_mean) and m["F_unseen"] == pytest.approx(objs[5].F_mean)
    assert m["J_seen"] == pytest.approx((objs[2].J_mean + objs[7].J_mean) / 2)
    assert m["overall"] == pytest.approx((m["J_seen"] + m["F_seen"] + m["J_unseen"] + m["F_unseen"]) / 4)
    # object 5 is scored from the frame after its first appearance (00030) to the last-but-one
    scored5 = [f for f, j in zip(objs[5].frames, objs[5].J_frames) if np.isfinite(j)]
    assert scored5 == ["00030", "00035", "00040"]
    assert objs[2].J_mean > 0.5  # a plain colour square is easy for Lab features


def test_run_without_gt_writes_only_predictions_and_zip(tmp_path):
    from vosbench.runs import RunConfig, run

    root = write_ytvos(tmp_path / "data", gt=False)
    res = run(RunConfig(model="identity", dataset="ytvos18-val", data_root=str(root), out=str(tmp_path / "runs"), device="cpu"))
    assert res.scores == [] and res.record["metrics"] == {}
    assert not (res.run_dir / "per_object.csv").exists()
    with zipfile.ZipFile(res.record["submission_zip"]) as zf:
        names = sorted(zf.namelist())
        assert names == [f"Annotations/a1b2c3d4e5/{n}.png" for n in SIX]
        # identity: each object keeps its first-appearance mask from its first frame on
        last = np.asarray(Image.open(zf.open(names[-1])))
        assert set(np.unique(last).tolist()) == {0, 2, 5, 7}
