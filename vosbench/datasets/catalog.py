"""Built-in datasets, as data (one frozen :class:`DatasetSpec` per name)."""

from __future__ import annotations

from vosbench.harness.specs import DatasetSpec

_DAVIS17 = "JPEGImages/480p, Annotations/480p (palette PNGs), ImageSets/2017/*.txt"

BUILTIN_DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name="davis16-val",
        description="DAVIS 2016 val: 20 single-object videos, binary masks (J&F)",
        factory="vosbench.datasets.davis:build_davis16",
        subfolder="DAVIS-2016",
        needs="DAVIS-2016 folder: JPEGImages/480p, Annotations/480p, ImageSets/480p/val.txt",
        options={"split": "val"},
    ),
    DatasetSpec(
        name="davis17-val",
        description="DAVIS 2017 val: 30 multi-object videos (J&F)",
        factory="vosbench.datasets.davis:build_davis17",
        subfolder="DAVIS-2017",
        needs=f"DAVIS-2017 trainval folder: {_DAVIS17}",
        options={"split": "val"},
    ),
    DatasetSpec(
        name="davis17-trainval",
        description="DAVIS 2017 train+val: 90 multi-object videos (J&F)",
        factory="vosbench.datasets.davis:build_davis17",
        subfolder="DAVIS-2017",
        needs=f"DAVIS-2017 trainval folder: {_DAVIS17}",
        options={"split": "trainval"},
    ),
    DatasetSpec(
        name="davis17-test-dev",
        description="DAVIS 2017 test-dev: predictions only, packed as a zip for the evaluation server",
        factory="vosbench.datasets.davis:build_davis17",
        subfolder="DAVIS-2017-test-dev",
        needs="DAVIS-2017 test-dev folder: JPEGImages/480p, Annotations/480p (frame 0), ImageSets/2017/test-dev.txt",
        options={"split": "test-dev"},
    ),
)
