"""What a dataset adapter hands to the engine: videos as lists of files, read lazily.

A :class:`VideoSequence` names its frames and annotation files; nothing is decoded until the
engine asks for a frame. Adapters never write into the dataset folder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Iterator

from vosbench.core.errors import DatasetLayoutError
from vosbench.core.specs import DatasetSpec
from vosbench.core.video import VideoSequence
from vosbench.datasets.joints import JOINTS

__all__ = ["VideoDataset", "VideoSequence"]


class VideoDataset(ABC):
    """Base class of dataset adapters: an ordered collection of :class:`VideoSequence`.

    Subclasses implement :meth:`sequence_names` and :meth:`sequence`; every other hook below has
    a default that fits a DAVIS-style set, and an adapter overrides the ones that differ.

    Hooks:
        task: ``"vos"`` (masks, J&F) or ``"pose"`` (keypoints, PCK; sequences carry ``keypoints``).
        submission_prefix: Zip-root prefix of the evaluation server's layout; runs write
            ``submission.zip`` (``<prefix><sequence>/<frame>.png``) when it is not ``None`` and
            no sequence has local GT (or :attr:`submission_with_gt`).
        submission_with_gt: Write the submission zip even where local GT exists.
        object_group: The group (``"seen"``/``"unseen"``) whose J/F means an object also counts
            in; ``None`` (the default) adds no group metrics.
        describe: What goes into the run record about the dataset.
        joints: Keypoint datasets: the joint names, in the order of the keypoint arrays.
        pck_rules: Keypoint datasets: ``jhmdb`` (:mod:`vosbench.scoring.pck`) or ``badja``
            (:mod:`vosbench.scoring.pck_badja`).
    """

    task: ClassVar[str] = "vos"
    joints: ClassVar[tuple[str, ...]] = JOINTS
    pck_rules: ClassVar[str] = "jhmdb"

    def __init__(self, spec: DatasetSpec, root: Path, **options: Any):
        self.spec = spec
        self.root = Path(root)
        self.options = options

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def sequence_names(self) -> list[str]:
        """Every sequence of the set, in evaluation order (names come from dataset files:
        adapters must refuse any that is not a plain folder name)."""

    @abstractmethod
    def sequence(self, name: str) -> VideoSequence:
        """Sequence ``name``, its layout validated (missing files raise ``DatasetLayoutError``)."""

    @property
    def submission_prefix(self) -> str | None:
        return None

    @property
    def submission_with_gt(self) -> bool:
        return False

    def object_group(self, sequence: str, obj: int) -> str | None:
        return None

    def select(self, names: list[str] | None) -> list[str]:
        """Validate a ``--sequences`` selection (``None`` = all) and return it in dataset order."""
        all_names = self.sequence_names()
        if not names:
            return all_names
        unknown = [n for n in names if n not in all_names]
        if unknown:
            raise DatasetLayoutError(
                f"{self.name}: unknown sequence(s) {', '.join(unknown)} in {self.root}; "
                f"available: {', '.join(all_names)}"
            )
        wanted = set(names)
        return [n for n in all_names if n in wanted]

    def __iter__(self) -> Iterator[VideoSequence]:
        for n in self.sequence_names():
            yield self.sequence(n)

    def __len__(self) -> int:
        return len(self.sequence_names())

    def describe(self) -> dict[str, Any]:
        """What goes into the run record about this dataset."""
        return {"name": self.name, "root": str(self.root), "task": self.task}
