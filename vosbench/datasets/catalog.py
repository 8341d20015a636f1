"""Built-in datasets, as data (one frozen :class:`DatasetSpec` per name)."""

from __future__ import annotations

from dataclasses import replace

from vosbench.core.specs import DatasetSpec

_DAVIS17 = "JPEGImages/480p, Annotations/480p (palette PNGs), ImageSets/2017/*.txt"

# --dataset-option keys each adapter accepts, with their types (vosbench.core.dataset_options)
_DAVIS_OPTIONS = {"split": "str", "resolution": "str"}
_SYNTH_OPTIONS = {"videos": "int", "frames": "int", "size": "size", "seed": "int"}
_YTVOS_OPTIONS = {
    "split": "str",
    "year": "int",
    "gt_root": "path",
    "heldout": "path",
    "unseen_categories": "path",
    "all_frames": "bool",
    "all_frames_root": "path",
}
_JHMDB_OPTIONS = {"split": "int", "subset": "str"}

BUILTIN_DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name="davis16-val",
        description="DAVIS 2016 val: 20 single-object videos, binary masks (J&F)",
        factory="vosbench.datasets.davis:build_davis16",
        subfolder="DAVIS-2016",
        needs="DAVIS-2016 folder: JPEGImages/480p, Annotations/480p, ImageSets/480p/val.txt",
        options={"split": "val"},
        option_types=_DAVIS_OPTIONS,
        split_role="val",
    ),
    DatasetSpec(
        name="davis17-val",
        description="DAVIS 2017 val: 30 multi-object videos (J&F)",
        factory="vosbench.datasets.davis:build_davis17",
        subfolder="DAVIS-2017",
        needs=f"DAVIS-2017 trainval folder: {_DAVIS17}",
        options={"split": "val"},
        option_types=_DAVIS_OPTIONS,
        split_role="val",
    ),
    DatasetSpec(
        name="davis17-trainval",
        description="DAVIS 2017 train+val: 90 multi-object videos (J&F)",
        factory="vosbench.datasets.davis:build_davis17",
        subfolder="DAVIS-2017",
        needs=f"DAVIS-2017 trainval folder: {_DAVIS17}",
        options={"split": "trainval"},
        option_types=_DAVIS_OPTIONS,
        split_role="trainval",
    ),
    DatasetSpec(
        name="davis17-test-dev",
        description="DAVIS 2017 test-dev: predictions only, packed as a zip for the evaluation server",
        factory="vosbench.datasets.davis:build_davis17",
        subfolder="DAVIS-2017-test-dev",
        needs="DAVIS-2017 test-dev folder: JPEGImages/480p, Annotations/480p (frame 0), ImageSets/2017/test-dev.txt",
        options={"split": "test-dev"},
        option_types=_DAVIS_OPTIONS,
        split_role="test",
    ),
    DatasetSpec(
        name="synthetic-davis",
        description="Generated DAVIS-2017-layout videos (textured shapes, occlusions); the offline demo (J&F)",
        factory="vosbench.datasets.synthetic:build_synthetic_davis",
        needs="nothing: generated on first use (vosbench data synth davis writes it explicitly)",
        generated=True,
        options={"split": "val"},
        option_types={**_DAVIS_OPTIONS, **_SYNTH_OPTIONS},
        split_role="val",
    ),
)

_YTVOS = "valid/{JPEGImages,Annotations,meta.json} (+ all_frames/valid_all_frames)"
_YTVOS_TRAIN = "train/{JPEGImages,Annotations,meta.json} (+ all_frames/train_all_frames)"
_JHMDB = "JHMDB folder: Rename_Images/, joint_positions/ (.mat), splits/*_test_split<k>.txt"


def _ytvos(year: int, split: str) -> DatasetSpec:
    short = str(year)[2:]
    if split == "valid":
        desc = f"YouTube-VOS {year} valid: objects join mid-video; predictions + submission zip"
        name, needs = f"ytvos{short}-val", f"YouTube-VOS {year} folder: {_YTVOS}"
    else:
        desc = f"YouTube-VOS {year} train, held-out subset scored locally (J/F seen/unseen)"
        name, needs = f"ytvos{short}-train", f"YouTube-VOS {year} folder: {_YTVOS_TRAIN}"
    return DatasetSpec(
        name=name,
        description=desc,
        factory="vosbench.datasets.ytvos:build_ytvos",
        subfolder=f"YouTubeVOS-{year}",
        needs=needs,
        options={"split": split, "year": year},
        option_types=_YTVOS_OPTIONS,
        split_role="test" if split == "valid" else "train",
    )


def _jhmdb(k: int) -> DatasetSpec:
    return DatasetSpec(
        name=f"jhmdb-split{k}",
        description=f"JHMDB split {k} test videos{' (268)' if k == 1 else ''}: keypoint propagation (PCK@0.1/0.2)",
        factory="vosbench.datasets.jhmdb:build_jhmdb",
        task="pose",
        subfolder="JHMDB",
        needs=_JHMDB,
        protocol="crw-jhmdb",
        options={"split": k, "subset": "test"},
        option_types=_JHMDB_OPTIONS,
        split_role="test",
    )


BUILTIN_DATASETS += (
    _ytvos(2018, "valid"),
    _ytvos(2019, "valid"),
    _ytvos(2018, "train"),
    _ytvos(2019, "train"),
    _jhmdb(1),
    _jhmdb(2),
    _jhmdb(3),
    DatasetSpec(
        name="synthetic-ytvos",
        description="Generated YouTube-VOS-layout videos (mid-video objects, seen/unseen, all frames; J/F)",
        factory="vosbench.datasets.ytvos:build_synthetic_ytvos",
        needs="nothing: generated on first use (vosbench data synth ytvos writes it explicitly)",
        generated=True,
        options={"split": "valid", "year": 2018},
        option_types={**_YTVOS_OPTIONS, **_SYNTH_OPTIONS},
        split_role="val",
    ),
    DatasetSpec(
        name="synthetic-jhmdb",
        description="Generated JHMDB-layout stick-figure videos, 15 joints (PCK)",
        factory="vosbench.datasets.jhmdb:build_synthetic_jhmdb",
        task="pose",
        needs="nothing: generated on first use (vosbench data synth jhmdb writes it explicitly)",
        protocol="crw-jhmdb",
        generated=True,
        options={"split": 1, "subset": "test"},
        option_types={**_JHMDB_OPTIONS, **_SYNTH_OPTIONS},
        split_role="test",
    ),
)

# Tuning splits: data that `vosbench tune` may choose protocol settings on (split_role "train"),
# each the same adapter and files as its val sibling with the other list
_BY_NAME = {spec.name: spec for spec in BUILTIN_DATASETS}
BUILTIN_DATASETS += (
    replace(
        _BY_NAME["davis17-val"],
        name="davis17-train",
        description="DAVIS 2017 train: 60 multi-object videos, for choosing protocol settings (vosbench tune)",
        options={"split": "train"},
        split_role="train",
    ),
    replace(
        _BY_NAME["synthetic-davis"],
        name="synthetic-davis-train",
        description="Generated DAVIS-2017-layout videos listed as a train split (another seed than synthetic-davis)",
        needs="nothing: generated on first use",
        options={"split": "train", "seed": 1},
        split_role="train",
    ),
)

_BADJA = "BADJA folder: joint_annotations/*.json, DAVIS/{JPEGImages,Annotations}/Full-Resolution/<seq>/"

BUILTIN_DATASETS += (
    DatasetSpec(
        name="badja",
        description="BADJA: 7 DAVIS animal videos, 20 joints; PCK normalised by the segmented area (FGVC)",
        factory="vosbench.datasets.badja:build_badja",
        task="pose",
        subfolder="BADJA",
        needs=_BADJA,
        protocol="fgvc-badja",
    ),
    DatasetSpec(
        name="synthetic-badja",
        description="Generated BADJA-layout videos of a textured quadruped, 20 joints with segmentations (PCK)",
        factory="vosbench.datasets.badja:build_synthetic_badja",
        task="pose",
        needs="nothing: generated on first use (vosbench data synth badja writes it explicitly)",
        protocol="fgvc-badja",
        generated=True,
        option_types=dict(_SYNTH_OPTIONS),
    ),
)

# TAP-Vid point tracking (google-deepmind/tapnet, tapnet/tapvid/README.md): --data-root is the
# pickle or its folder; --dataset-option query_mode=first|strided
_TAPVID_OPTIONS = {"query_mode": "str"}


def _tapvid(
    name: str, description: str, subfolder: str, needs: str,
    factory: str = "vosbench.datasets.tapvid:build_tapvid", generated: bool = False,
) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        description=description,
        factory=factory,
        task="points",
        subfolder=subfolder,
        needs=needs,
        protocol="nn",
        options={"query_mode": "first"},
        option_types={**_TAPVID_OPTIONS, **(_SYNTH_OPTIONS if generated else {})},
        generated=generated,
    )


BUILTIN_DATASETS += (
    _tapvid("tapvid-davis", "TAP-Vid-DAVIS: 30 videos, point tracks (AJ, <delta_avg, OA)", "TAP-Vid-DAVIS",
            "tapvid_davis.pkl (or its folder)"),
    _tapvid("tapvid-rgb-stacking", "TAP-Vid-RGB-Stacking: 50 robotics videos, point tracks (AJ, <delta_avg, OA)",
            "TAP-Vid-RGB-Stacking", "tapvid_rgb_stacking.pkl (or its folder)"),
    _tapvid("robotap", "RoboTAP: robot manipulation videos, point tracks (AJ, <delta_avg, OA)", "RoboTAP",
            "the folder of RoboTAP's .pkl files (or one of them)"),
    _tapvid("tapvid-kinetics", "TAP-Vid-Kinetics: Kinetics-700-2020 val clips, point tracks (AJ, <delta_avg, OA)",
            "TAP-Vid-Kinetics", "tapvid_kinetics.csv with your Kinetics-700-2020 validation clips below its folder "
            "(<youtube_id>_<start:06>_<end:06>.mp4; needs vosbench[video]), or the *_of_0010.pkl files tapnet's "
            "generate_tapvid.py makes from them",
            factory="vosbench.datasets.tapvid_kinetics:build_tapvid_kinetics"),
    _tapvid("synthetic-tapvid", "Generated TAP-Vid-DAVIS pickle: rendered videos with true tracks, occlusions, "
            "points leaving the frame", "", "nothing: generated on first use",
            factory="vosbench.datasets.tapvid:build_synthetic_tapvid", generated=True),
)

_VIP = "VIP_Fine folder: Images/<video>/*.jpg, Annotations/Category_ids/<video>/*.png, lists/<split>_videos.txt"
BUILTIN_DATASETS += (
    DatasetSpec(
        name="vip-val",
        description="VIP val: 50 videos, 20 human-part classes propagated from the first frame (mIoU)",
        factory="vosbench.datasets.vip:build_vip",
        task="parsing",
        subfolder="VIP_Fine",
        needs=_VIP,
        protocol="crw-vip",
        options={"split": "val"},
        option_types={"split": "str"},
    ),
    DatasetSpec(
        name="synthetic-vip",
        description="Generated VIP_Fine-layout videos of a figure with a part map (mIoU)",
        factory="vosbench.datasets.vip:build_synthetic_vip",
        task="parsing",
        needs="nothing: generated on first use (vosbench data synth vip writes it explicitly)",
        protocol="crw-vip",
        generated=True,
        options={"split": "val"},
        option_types={"split": "str", **_SYNTH_OPTIONS},
    ),
)
