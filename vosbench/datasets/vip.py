"""VIP (Video instance-level Parsing) adapter: human-part propagation, 20 classes, mIoU.

Layout of the ``VIP_Fine`` folder as the propagation papers read it (Liusifei/UVC @4336938
``test_mask_vip.py`` + README; xvjiarui/VFS @8e055cc ``mmaction/datasets/vip_dataset.py`` and
``tools/data/parse_file_list.py``; ajabri/videowalk @047f3f4 ``code/data/vos.py``):

* ``Images/<video>/<frame>.jpg``: the annotated frames of each video (VIP annotates one frame in
  25; VFS's file template is ``{:012}.jpg``, the frame's number in the video);
* ``Annotations/Category_ids/<video>/<frame>.png``: greyscale PNG of class ids 0..19 (0 =
  background; ids of 20 and more, e.g. 255, are ignored by the scorers), one per annotated frame;
* ``lists/val_videos.txt`` (and ``train_videos.txt``, ``test_videos.txt``): one video name per line
  (read as VFS reads it, the line itself; it must be a plain folder name).

The 50 validation videos are ``vip-val``. Frames are taken in name order (VFS sorts the names,
CRW sorts by the number, the same for zero-padded names) and propagated from the first frame's
part map; every frame with an annotation (frame 0 included, as CRW, UVC and VFS all score their
frame-0 output) is scored. A frame without annotation is propagated and not scored; an
annotation without a frame is a layout error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosbench.core.errors import DatasetLayoutError
from vosbench.core.safepath import check_name
from vosbench.core.specs import DatasetSpec
from vosbench.datasets.base import VideoDataset, VideoSequence
from vosbench.datasets.davis import IMAGE_EXTS, _numbered_lines

SPLITS = ("train", "val", "test")


class VIPDataset(VideoDataset):
    """The ``VIP_Fine`` layout (see the module docstring)."""

    task = "parsing"

    def __init__(self, spec: DatasetSpec, root: Path, split: str = "val", **options: Any):
        super().__init__(spec, root, **options)
        if split not in SPLITS:
            raise DatasetLayoutError(f"{spec.name}: unknown split {split!r}; VIP has {', '.join(SPLITS)}")
        self.split = split
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{spec.name}: data root {self.root} does not exist")
        self.image_dir = self.root / "Images"
        self.anno_dir = self.root / "Annotations" / "Category_ids"
        for d in (self.image_dir, self.anno_dir):
            if not d.is_dir():
                raise DatasetLayoutError(
                    f"{spec.name}: expected folder {d} (layout: {spec.needs}); is {self.root} the VIP_Fine folder?"
                )
        lst = self.root / "lists" / f"{split}_videos.txt"
        # each line is one video folder name (VFS reads the line as it is; UVC would also take the
        # last part of a path, which is refused here: a name from a file must be a plain folder name)
        names = [check_name(line, lst, n, "video name") for n, line in _numbered_lines(lst, self.name)]
        self._names = list(dict.fromkeys(names))

    def sequence_names(self) -> list[str]:
        return list(self._names)

    def sequence(self, name: str) -> VideoSequence:
        if name not in self._names:
            self.select([name])  # raises with the list of valid names
        d = self.image_dir / name
        if not d.is_dir():
            raise DatasetLayoutError(f"{self.name}: video {name!r} listed in the split but {d} is missing")
        frames = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))
        if not frames:
            raise DatasetLayoutError(f"{self.name}: no frames (*.jpg) in {d}")
        stems = [p.stem for p in frames]
        adir = self.anno_dir / name
        pngs = {p.stem: p for p in adir.glob("*.png")} if adir.is_dir() else {}
        if stems[0] not in pngs:
            raise DatasetLayoutError(
                f"{self.name}: video {name!r} has no part map for its first frame ({adir / (stems[0] + '.png')}); "
                "propagation starts from it"
            )
        orphans = sorted(set(pngs) - set(stems))
        if orphans:
            raise DatasetLayoutError(
                f"{self.name}: annotation(s) without a frame in {d}: {', '.join(o + '.png' for o in orphans[:5])}"
            )
        return VideoSequence(
            name=name,
            frames=stems,
            image_paths=frames,
            annotations={0: pngs[stems[0]]},
            gt={i: pngs[s] for i, s in enumerate(stems) if s in pngs},
            meta={"dataset": self.name},
        )

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["split"] = self.split
        return d


def build_vip(spec: DatasetSpec, root: Path, **options: Any) -> VIPDataset:
    """Factory of ``vip-val`` (and the other VIP splits)."""
    return VIPDataset(spec, root, **options)


def build_synthetic_vip(spec: DatasetSpec, root: Path, **options: Any) -> VIPDataset:
    """Factory of ``synthetic-vip``: generate (once) into ``root``, then open it with the VIP loader."""
    from vosbench.datasets.synthetic import ensure_generated, generator_params

    params = generator_params("vip", spec, root, options)
    ensure_generated("vip", root, **params)
    return VIPDataset(spec, Path(root), **options)
