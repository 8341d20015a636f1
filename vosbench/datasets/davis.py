"""DAVIS 2016 and DAVIS 2017 adapters (the layouts of the official archives; README, "Where data goes").

* DAVIS-2016: ``JPEGImages/480p/<seq>/00000.jpg``, ``Annotations/480p/<seq>/00000.png`` (binary
  0/255 greyscale, object 1 = value > 128), ``ImageSets/480p/<split>.txt`` with one line per
  frame (``/JPEGImages/480p/<seq>/00000.jpg /Annotations/480p/<seq>/00000.png``).
* DAVIS-2017: same image tree, palette PNG annotations (ids 1..K, 255 = void) and
  ``ImageSets/2017/<split>.txt`` with one sequence name per line. ``trainval`` = train + val.
  ``test-dev`` has an annotation for frame 0 only; predictions are written for every frame.

Frames and masks are only listed here; they are decoded when the engine asks for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vosbench.datasets.base import VideoDataset, VideoSequence
from vosbench.core.errors import DatasetLayoutError
from vosbench.core.safepath import check_name
from vosbench.core.specs import DatasetSpec

IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def _numbered_lines(path: Path, what: str) -> list[tuple[int, str]]:
    if not path.is_file():
        raise DatasetLayoutError(f"{what}: {path} not found; is the data root the dataset's top folder?")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetLayoutError(f"{path}: cannot read ({e})") from None
    return [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.startswith("#")]


def _read_names(path: Path, what: str) -> list[str]:
    """Sequence names, one per line; each must be a single safe path component."""
    return [check_name(ln, path, n, "sequence name") for n, ln in _numbered_lines(path, what)]


class _DavisBase(VideoDataset):
    binary = False

    def __init__(self, spec: DatasetSpec, root: Path, resolution: str = "480p", **options: Any):
        super().__init__(spec, root, **options)
        self.resolution = resolution
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{spec.name}: data root {self.root} does not exist")
        self.image_dir = self.root / "JPEGImages" / resolution
        self.anno_dir = self.root / "Annotations" / resolution
        for d in (self.image_dir, self.anno_dir):
            if not d.is_dir():
                raise DatasetLayoutError(
                    f"{spec.name}: expected folder {d} (layout: {spec.needs}); "
                    f"is {self.root} the dataset's top folder?"
                )

    @property
    def has_gt(self) -> bool:
        return True

    def _frames(self, seq: str) -> list[Path]:
        d = self.image_dir / seq
        if not d.is_dir():
            raise DatasetLayoutError(f"{self.name}: sequence {seq!r} listed in the split but {d} is missing")
        frames = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))
        if not frames:
            raise DatasetLayoutError(f"{self.name}: no frames (*.jpg) in {d}")
        return frames

    def _build(self, seq: str, frames: list[Path]) -> VideoSequence:
        names = [p.stem for p in frames]
        anno_seq = self.anno_dir / seq
        first = anno_seq / f"{names[0]}.png"
        if not first.is_file():
            raise DatasetLayoutError(
                f"{self.name}: sequence {seq!r} has no first-frame annotation {first}; "
                f"semi-supervised propagation needs the frame-0 mask"
            )
        gt: dict[int, Path] = {}
        if self.has_gt:
            pngs = {p.stem: p for p in anno_seq.glob("*.png")}
            missing = [n for n in names if n not in pngs]
            extra = sorted(set(pngs) - set(names))
            if missing or extra:
                raise DatasetLayoutError(
                    f"{self.name}: sequence {seq!r} has {len(names)} frames in {self.image_dir / seq} but "
                    f"{len(pngs)} annotations in {anno_seq}"
                    + (f"; frames without annotation: {', '.join(missing[:5])}" if missing else "")
                    + (f"; annotations without frame: {', '.join(extra[:5])}" if extra else "")
                )
            gt = {i: pngs[n] for i, n in enumerate(names)}
        return VideoSequence(
            name=seq,
            frames=names,
            image_paths=frames,
            annotations={0: first},
            gt=gt,
            binary_masks=self.binary,
            meta={"dataset": self.name},
        )

    def sequence(self, name: str) -> VideoSequence:
        if name not in self.sequence_names():
            self.select([name])  # raises with the list of valid names
        return self._build(name, self._frames(name))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["resolution"] = self.resolution
        return d


class Davis16Dataset(_DavisBase):
    """DAVIS-2016 layout: binary masks, per-frame ImageSets list."""

    binary = True

    def __init__(self, spec: DatasetSpec, root: Path, split: str = "val", **options: Any):
        super().__init__(spec, root, **options)
        self.split = split
        lst = self.root / "ImageSets" / self.resolution / f"{split}.txt"
        self._seq_frames: dict[str, list[Path]] = {}
        for n, line in _numbered_lines(lst, self.name):
            parts = line.split()
            if len(parts) != 2:
                raise DatasetLayoutError(
                    f"{lst}:{n}: malformed line {line!r}; expected '/JPEGImages/480p/<seq>/<n>.jpg /Annotations/480p/<seq>/<n>.png'"
                )
            components = parts[0].lstrip("/").split("/")
            if len(components) != 4:
                raise DatasetLayoutError(
                    f"{lst}:{n}: malformed line {line!r}; expected '/JPEGImages/480p/<seq>/<n>.jpg "
                    f"/Annotations/480p/<seq>/<n>.png' (a sequence name is one folder name)"
                )
            for part in components:  # no '..' or '.', no absolute path: the frame stays inside the data root
                check_name(part, lst, n, "path component")
            img = Path(*components)
            seq = img.parent.name
            self._seq_frames.setdefault(seq, []).append(self.root / img)

    def sequence_names(self) -> list[str]:
        return list(self._seq_frames)

    def sequence(self, name: str) -> VideoSequence:
        if name not in self._seq_frames:
            self.select([name])
        frames = self._seq_frames[name]
        for p in frames[:1]:
            if not p.is_file():
                raise DatasetLayoutError(f"{self.name}: frame {p} listed in ImageSets is missing")
        return self._build(name, sorted(frames))


class Davis17Dataset(_DavisBase):
    """DAVIS-2017 layout: palette PNGs, one sequence name per line in ImageSets/2017/<split>.txt."""

    @property
    def submission_prefix(self) -> str | None:
        """Without GT (test-dev) the run zips its predictions with the sequence folders at the zip
        root, the layout the DAVIS evaluation server accepts (no extra top-level folder)."""
        return ""

    def __init__(self, spec: DatasetSpec, root: Path, split: str = "val", **options: Any):
        super().__init__(spec, root, **options)
        self.split = split
        sets = self.root / "ImageSets" / "2017"
        if split == "trainval":
            names = _read_names(sets / "train.txt", self.name) + _read_names(sets / "val.txt", self.name)
        else:
            names = _read_names(sets / f"{split}.txt", self.name)
        self._names = list(dict.fromkeys(names))

    @property
    def has_gt(self) -> bool:
        return self.split != "test-dev"

    def sequence_names(self) -> list[str]:
        return list(self._names)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["split"] = self.split
        d["has_gt"] = self.has_gt
        return d


def build_davis16(spec: DatasetSpec, root: Path, **options: Any) -> Davis16Dataset:
    return Davis16Dataset(spec, root, **options)


def build_davis17(spec: DatasetSpec, root: Path, **options: Any) -> Davis17Dataset:
    return Davis17Dataset(spec, root, **options)
