"""TAP-Vid pickles: the DAVIS dict, the RGB-Stacking list, a folder of pickles (RoboTAP), the
memory-mapped index, hostile and malformed pickles, `data check` and `data download`."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import invoke
from vosbench.core.errors import InputFileError
from vosbench.datasets import download as dl
from vosbench.datasets import tapvid_pickle
from vosbench.datasets.factory import load_dataset


def video(seed: int, frames: int = 5, tracks: int = 3, size: tuple[int, int] = (24, 32)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = size
    occ = rng.random((tracks, frames)) < 0.3
    occ[0] = True  # a track never visible
    return {
        "video": rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8),
        "points": rng.random((tracks, frames, 2)).astype(np.float32),
        "occluded": occ,
    }


def write(path: Path, data: object) -> Path:
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def test_davis_dict_is_read_in_order_with_pixel_tracks(tmp_path):
    data = {"bear": video(0), "car-turn": video(1, size=(20, 40))}
    ds = load_dataset("tapvid-davis", write(tmp_path / "tapvid_davis.pkl", data))
    assert ds.sequence_names() == ["bear", "car-turn"]
    seq = ds.sequence("car-turn")
    assert len(seq) == 5 and seq.size == (20, 40)
    np.testing.assert_array_equal(seq.read_image(3), data["car-turn"]["video"][3])
    pts, occ = seq.gt_tracks()
    np.testing.assert_allclose(pts, data["car-turn"]["points"].astype(np.float64) * [40, 20])
    np.testing.assert_array_equal(occ, data["car-turn"]["occluded"])
    assert isinstance(seq.entry.video(), np.memmap)  # frames are memory-mapped, not held


def test_rgb_stacking_list_and_robotap_folder(tmp_path):
    ds = load_dataset("tapvid-rgb-stacking", write(tmp_path / "rgb.pkl", [video(0), video(1)]))
    assert ds.sequence_names() == ["video_0000", "video_0001"]
    folder = tmp_path / "robotap"
    folder.mkdir()
    write(folder / "robotap_split0.pkl", {"a": video(2)})
    write(folder / "robotap_split1.pkl", {"b": video(3)})
    assert load_dataset("robotap", folder).sequence_names() == ["a", "b"]
    write(folder / "robotap_split2.pkl", {"a": video(4)})
    with pytest.raises(InputFileError, match="also in another pickle"):
        load_dataset("robotap", folder)


def test_the_index_is_built_once(tmp_path, monkeypatch):
    path = write(tmp_path / "d.pkl", {"v": video(0)})
    load_dataset("tapvid-davis", path)

    def no_unpickling(p):
        raise AssertionError("unpickled again")

    monkeypatch.setattr(tapvid_pickle, "safe_load", no_unpickling)
    assert load_dataset("tapvid-davis", path).sequence_names() == ["v"]


class Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_hostile_pickle_is_refused_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "evil.pkl", {"v": {"video": Evil(), "points": 1, "occluded": 2}})
    res = invoke("data", "check", "tapvid-davis", "--data-root", path, code=2)
    assert "refusing to load" in res.output and "system" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "PWNED").exists()
    res = invoke("run", "--model", "lab", "--dataset", "tapvid-davis", "--data-root", path, "--out", tmp_path / "r", code=2)
    assert "refusing to load" in res.output and not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "data,message",
    [
        ({"v": {"video": np.zeros((2, 4, 4), np.uint8), "points": np.zeros((1, 2, 2)), "occluded": np.zeros((1, 2), bool)}},
         "'video' has shape"),
        ({"v": {**video(0), "points": np.zeros((3, 4, 2), np.float32)}}, "'points' has shape"),
        ({"v": {**video(0), "points": np.full((3, 5, 2), np.nan, np.float32)}}, "NaN"),
        ({"../up": video(0)}, "cannot be used"),
        ({"v": {"video": video(0)["video"]}}, "expected a dict with"),
        ({}, "holds no videos"),
        (3, "expected a dict of videos"),
    ],
)
def test_malformed_pickles_say_what_is_wrong(tmp_path, data, message):
    path = write(tmp_path / "bad.pkl", data)
    res = invoke("data", "check", "tapvid-davis", "--data-root", path, code=2)
    assert message in res.output and "Traceback" not in res.output


def test_a_truncated_or_foreign_file(tmp_path):
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps({"v": video(0)})[:100])
    assert "not a TAP-Vid pickle" in invoke("data", "check", "tapvid-davis", "--data-root", path, code=2).output
    path.write_bytes(b"PK\x03\x04 not a pickle")
    assert "not a TAP-Vid pickle" in invoke("data", "check", "tapvid-davis", "--data-root", path, code=2).output


def test_data_download_and_check(range_server, monkeypatch, tmp_path):
    monkeypatch.setenv(dl.BASE_URL_ENV, range_server.url)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("tapvid_davis/tapvid_davis.pkl", pickle.dumps({"bear": video(0), "dog": video(1)}, protocol=4))
    range_server.files["tapvid_davis.zip"] = buf.getvalue()
    data = tmp_path / "data"
    res = invoke("data", "download", "tapvid-davis", "--dir", data, code=0)
    assert "tapvid-davis" in res.output
    folder = data / "TAP-Vid-DAVIS"
    assert (folder / "tapvid_davis.pkl").is_file()
    res = invoke("data", "check", "tapvid-davis", "--data-root", folder, code=0)
    assert "OK (2 sequences, 10 frames, 6 annotation files" in res.output
    monkeypatch.setenv("VOSBENCH_DATA", str(data))
    assert load_dataset("tapvid-davis").sequence_names() == ["bear", "dog"]


def test_kinetics_shards_with_jpeg_frames(tmp_path):
    """tapnet's generate_tapvid.py output: lists of videos whose frames are JPEG bytes, numbered
    across the shard files."""
    from PIL import Image

    def jpeg_video(seed: int) -> dict[str, np.ndarray]:
        v = video(seed, frames=3, size=(16, 24))
        frames = []
        for img in v["video"]:
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=95)
            frames.append(buf.getvalue())
        return {**v, "video": np.array(frames), "points": v["points"].astype(np.float64)}

    folder = tmp_path / "kinetics"
    folder.mkdir()
    write(folder / "0000_of_0002.pkl", [jpeg_video(0), jpeg_video(1)])
    write(folder / "0001_of_0002.pkl", [jpeg_video(2)])
    ds = load_dataset("tapvid-kinetics", folder)
    assert ds.sequence_names() == ["video_0000", "video_0001", "video_0002"]
    seq = ds.sequence("video_0002")
    assert seq.size == (16, 24) and seq.read_image(1).shape == (16, 24, 3)
    bad = tmp_path / "bad"
    bad.mkdir()
    write(bad / "0000_of_0001.pkl", [{**jpeg_video(0), "video": np.array([b"not a jpeg"] * 3)}])
    assert "not a readable JPEG" in invoke("data", "check", "tapvid-kinetics", "--data-root", bad, code=2).output
