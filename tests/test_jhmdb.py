"""JHMDB adapter on files written here in the official layout (joint_positions.mat saved with
scipy.io.savemat in MATLAB layout, official split files), and the keypoint geometry/read-out."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from vosbench.datasets.base import VideoSequence
from vosbench.datasets.jhmdb import JOINTS, JHMDBDataset, read_joint_positions
from vosbench.propagation.engine import Timings
from vosbench.core.errors import DatasetLayoutError, InputFileError
from vosbench.propagation.keypoints import (
    crw_label_maps,
    crw_pixels_from_cells,
    crw_soft_argmax,
    cells_from_pixels,
    gaussian_maps,
    pixels_from_cells,
    propagate_pose,
    soft_argmax,
)
from vosbench.propagation.protocol import get_protocol
from vosbench.core.registry import datasets


def write_mat(path: Path, pos_img_1based: np.ndarray) -> None:
    """joint_positions.mat as JHMDB ships it: pos_img / pos_world [2, 15, T], scale [1, T], viewpoint."""
    T = pos_img_1based.shape[2]
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(
        str(path),
        {
            "pos_img": pos_img_1based.astype(np.float64),
            "pos_world": (pos_img_1based / 100.0).astype(np.float64),
            "scale": np.full((1, T), 1.25),
            "viewpoint": np.array(["E"] * T, dtype=object),
        },
        format="5",
    )


def write_jhmdb(root: Path, n_png: dict[str, int], n_ann: dict[str, int]) -> dict[str, np.ndarray]:
    """Two classes, three videos, all three official splits. Returns 1-based pos_img per video."""
    vids = {
        "brush_hair": ["April_09_brush_hair_u_nm_np1_ba_goo_0", "Aussie_Brush_Hair_brush_hair_h_cm_np1_le_goo_0"],
        "catch": ["Ball_hochwerfen_catch_f_cm_np1_ri_med_0"],
    }
    rng = np.random.default_rng(1)
    pos = {}
    (root / "splits").mkdir(parents=True)
    for cls, names in vids.items():
        for k in (1, 2, 3):
            # split k: video i is a test video (2) when i + k is even; trailing spaces as in the archive
            lines = [f"{v}.avi {2 if (i + k) % 2 == 0 else 1} " for i, v in enumerate(names)]
            (root / "splits" / f"{cls}_test_split{k}.txt").write_text("\n".join(lines) + "\n")
        for v in names:
            d = root / "Rename_Images" / cls / v
            d.mkdir(parents=True)
            for t in range(n_png[v]):
                Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(d / f"{t + 1:05d}.png")
            p = rng.uniform(1, 30, (2, 15, n_ann[v]))
            pos[v] = p
            write_mat(root / "joint_positions" / cls / v / "joint_positions.mat", p)
    return pos


@pytest.fixture
def jhmdb(tmp_path):
    n_png = {
        "April_09_brush_hair_u_nm_np1_ba_goo_0": 6,
        "Aussie_Brush_Hair_brush_hair_h_cm_np1_le_goo_0": 4,
        "Ball_hochwerfen_catch_f_cm_np1_ri_med_0": 5,
    }
    n_ann = {
        "April_09_brush_hair_u_nm_np1_ba_goo_0": 4,  # more PNGs than annotated frames
        "Aussie_Brush_Hair_brush_hair_h_cm_np1_le_goo_0": 4,
        "Ball_hochwerfen_catch_f_cm_np1_ri_med_0": 5,
    }
    return tmp_path, write_jhmdb(tmp_path, n_png, n_ann)


def _ds(root: Path, k: int = 1, **opts) -> JHMDBDataset:
    spec = datasets.get(f"jhmdb-split{k}")
    return JHMDBDataset(spec, root, **{**spec.options, **opts})


def test_split_files_choose_the_test_videos(jhmdb):
    root, _ = jhmdb
    # classes in sorted order, videos in split-file order; 2 = test, 1 = train
    assert _ds(root, 1).sequence_names() == ["Aussie_Brush_Hair_brush_hair_h_cm_np1_le_goo_0"]
    assert _ds(root, 2).sequence_names() == [
        "April_09_brush_hair_u_nm_np1_ba_goo_0",
        "Ball_hochwerfen_catch_f_cm_np1_ri_med_0",
    ]
    assert _ds(root, 1, subset="train").sequence_names() == _ds(root, 2).sequence_names()
    assert datasets.get("jhmdb-split1").protocol == "crw-jhmdb" and datasets.get("jhmdb-split1").task == "pose"


def test_mat_read_in_matlab_layout(jhmdb):
    root, pos = jhmdb
    v = "Ball_hochwerfen_catch_f_cm_np1_ri_med_0"
    seq = _ds(root, 2).sequence(v)
    assert seq.keypoints.shape == (5, 15, 2)
    # x = row 0, y = row 1, minus 1 (MATLAB is 1-based)
    assert seq.keypoints[3, 7, 0] == pos[v][0, 7, 3] - 1 and seq.keypoints[3, 7, 1] == pos[v][1, 7, 3] - 1
    assert seq.frames == ["00001", "00002", "00003", "00004", "00005"]
    assert len(JOINTS) == 15 and JOINTS[2] == "face" and JOINTS[14] == "left_ankle"


def test_more_pngs_than_annotations_cut_to_annotated_frames(jhmdb):
    root, _ = jhmdb
    seq = _ds(root, 2).sequence("April_09_brush_hair_u_nm_np1_ba_goo_0")
    assert seq.frames == ["00001", "00002", "00003", "00004"] and seq.keypoints.shape[0] == 4
    assert seq.meta["png_frames"] == 6 and seq.meta["annotated_frames"] == 4


def test_bad_files_give_clear_errors(tmp_path, jhmdb):
    root, _ = jhmdb
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(str(bad), {"pos_world": np.zeros((2, 15, 3))})
    with pytest.raises(InputFileError, match="no variable 'pos_img'"):
        read_joint_positions(bad)
    scipy.io.savemat(str(bad), {"pos_img": np.zeros((2, 14, 3))})
    with pytest.raises(InputFileError, match=r"\[2, 14, 3\]"):
        read_joint_positions(bad)
    bad.write_bytes(b"not a mat file")
    with pytest.raises(InputFileError, match="bad.mat"):
        read_joint_positions(bad)
    (root / "splits" / "catch_test_split1.txt").write_text("video_without_label.avi\n")
    with pytest.raises(DatasetLayoutError, match="catch_test_split1.txt:1"):
        _ds(root)
    other = tmp_path / "other"
    for d in ("Rename_Images", "joint_positions", "splits"):
        (other / d).mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=r"no split files \*_test_split1.txt"):
        _ds(other)


# --- geometry, label maps, read-out -----------------------------------------------------------------


def test_cell_centre_mapping_on_jhmdb_geometry():
    # 320x240 frames squashed to 320x320, stride 8 -> 40x40 cells. Cell (0, 0) covers processed
    # pixels 0..7 in x and 0..7 in y, i.e. original x 0..7 and y 0..5.25: centre (3.5, 2.375 + ...)
    geo = (240, 320, 320, 320)
    centre = pixels_from_cells(np.array([0.0, 0.0]), *geo, 8)
    assert centre.tolist() == pytest.approx([3.5, 2.5])
    pts = np.array([[0.0, 0.0], [319.0, 239.0], [100.25, 17.5]])
    assert pixels_from_cells(cells_from_pixels(pts, *geo, 8), *geo, 8) == pytest.approx(pts)
    # CRW's feat_res = 40 mapping reads the same cell index as its corner: (s/sx - 1)/2 = 3.5 px
    # left, 2.5 px up of the centre (CRW encodes with the corner too, so its own maps cancel)
    cells = np.array([[5.0, 7.0], [12.3, 30.9]])
    diff = crw_pixels_from_cells(cells, 240, 320, 40, 40) - pixels_from_cells(cells, *geo, 8)
    assert diff == pytest.approx(np.array([[-3.5, -2.5], [-3.5, -2.5]]), abs=1e-4)  # CRW: float32


def test_gaussian_label_maps():
    maps = gaussian_maps(np.array([[5.0, 4.0], [np.nan, np.nan], [0.3, 0.0]]), 8, 10)
    assert maps.shape == (4, 8, 10)
    j = maps[1]
    assert j[4, 5] == 1.0 and j[4, 6] == pytest.approx(math.exp(-2)) and j[5, 6] == pytest.approx(math.exp(-4))
    assert j[4, 7] == 0.0  # 2 cells away: beyond the 3-sigma cut (1.5 cells)
    assert maps[2].sum() == 0  # invisible joint: empty channel
    assert maps[3][0, 0] == pytest.approx(math.exp(-0.09 / 0.5))
    fg = maps[1:].amax(0) > 0
    assert torch.equal(maps[0] == 1, ~fg) and set(maps[0].unique().tolist()) == {0.0, 1.0}


def test_soft_argmax_top3():
    m = torch.zeros(2, 5, 6)
    m[0, 1, 2], m[0, 1, 3], m[0, 2, 2], m[0, 4, 5] = 0.6, 0.3, 0.1, 0.05  # 4th value is ignored
    out = soft_argmax(m)
    assert out[0] == pytest.approx([0.6 * 2 + 0.3 * 3 + 0.1 * 2, 0.6 * 1 + 0.3 * 1 + 0.1 * 2])
    assert np.isnan(out[1]).all()  # empty channel: no prediction


class ShiftNoise(torch.nn.Module):
    """8x8 patches projected on 32 fixed random directions (stride 8)."""

    stride = 8

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(32, 3, 8, 8, generator=g), requires_grad=False)

    def forward(self, x):
        return torch.nn.functional.conv2d(x - 0.5, self.w, stride=8)


@pytest.mark.parametrize("preset", ["crw-jhmdb-centred", "crw-jhmdb"])
def test_propagation_follows_an_exact_translation(tmp_path, preset):
    """A noise texture moving 8 px (one cell) right per frame: every read-out is frame 0's
    read-out moved by exactly one cell per frame, mapped to pixels by cell centres (centred) or
    CRW's x / w_feat * W (crw)."""
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    T, paths = 4, []
    for t in range(T):
        p = tmp_path / f"{t + 1:05d}.png"
        # content moves right and wraps around, so every cell has an exact match in frame 0
        # (cells entering at a border would take arbitrary labels from their nearest neighbours)
        Image.fromarray(np.roll(tex, 8 * t, axis=1)).save(p)
        paths.append(p)
    kps = np.full((T, 15, 2), np.nan)
    base = np.array([[30.3, 40.2], [50.0, 20.0], [70.6, 60.9]])
    for t in range(T):
        kps[t, :3] = base + (8 * t, 0)
    seq = VideoSequence("toy", [p.stem for p in paths], paths, keypoints=kps)
    proto = get_protocol(preset, resize="native")  # 128x96 -> 16x12 cells
    cells: list[np.ndarray] = []
    out = dict(propagate_pose(seq, ShiftNoise(), proto, torch.device("cpu"), Timings(), cell_readout=cells))
    geo = (96, 128, 96, 128)
    if preset == "crw-jhmdb":
        r0 = crw_soft_argmax(crw_label_maps(cells[0], 12, 16)[1:])
        assert cells[0][0] == pytest.approx(base[0] / 8)  # CRW's corner convention
        assert np.array_equal(out[0], crw_pixels_from_cells(r0, 96, 128, 12, 16), equal_nan=True)
    else:
        r0 = soft_argmax(gaussian_maps(cells[0], 12, 16)[1:])
        assert np.array_equal(out[0], kps[0], equal_nan=True)
    for t in range(1, T):
        # CRW's Gaussian has four equal neighbours of its peak, of which the top-3 takes two: in a
        # propagated map float noise decides which, moving the read-out by up to 0.21 cells
        tol = 0.25 if preset == "crw-jhmdb" else 1e-3
        assert cells[t][:3] == pytest.approx(r0[:3] + (t, 0), abs=tol)
        if preset == "crw-jhmdb":
            assert out[t][:3] == pytest.approx(crw_pixels_from_cells(r0[:3] + (t, 0), 96, 128, 12, 16), abs=8 * tol)
        else:
            assert out[t][:3] == pytest.approx(pixels_from_cells(r0[:3] + (t, 0), *geo, 8), abs=1e-2)
        assert np.isnan(out[t][3:]).all()  # joints invisible in frame 0 are never predicted
