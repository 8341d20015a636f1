"""Frozen descriptions of models and datasets: the facts, kept as data.

These classes import nothing heavy, so listing what is registered never imports torch.
A spec's ``factory`` is either a callable or a ``"module:attribute"`` string that is imported
only when the model or dataset is actually built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class WeightFile:
    """One downloadable checkpoint file.

    Attributes:
        name: Short handle used by ``vosbench weights download NAME`` and ``--checkpoint NAME``.
        url: Public address of the official file.
        filename: File name in the cache folder.
        sha256: Expected SHA-256 (hex) when known, else ``None`` (recorded at first download).
        note: Where the file comes from / what it holds.
    """

    name: str
    url: str
    filename: str
    sha256: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """Everything vosbench needs to know about an encoder, without building it.

    Attributes:
        name: Registry name (``--model``).
        description: One line shown by ``vosbench list models``.
        factory: ``factory(spec, checkpoint=None, **options) -> torch.nn.Module`` or a
            ``"module:attr"`` string naming it.
        stride: Output stride s; features have shape (B, C, ceil(H/s), ceil(W/s)).
        channels: Feature channels C.
        mean, std: Per-channel input normalisation applied to RGB in [0, 1]; ``None`` = none.
        native_protocol: Protocol preset the model was published with.
        checkpoint: ``"none"`` (takes no weights), ``"optional"`` (random init without one) or
            ``"required"``.
        weights: Official downloadable checkpoints.
        input_multiple: Inputs are padded to a multiple of this (ViT patch size), 1 = any size.
        paper, license: Provenance shown in listings and records.
        family: The method family shown by ``vosbench list models`` (e.g. ``moco-v1``); empty = the
            name of the module holding the factory.
        copy_first_frame: The model predicts by copying the first-frame labels unchanged instead
            of k-NN propagation (the ``identity`` baseline).
    """

    name: str
    description: str
    factory: str | Callable[..., Any]
    stride: int
    channels: int
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    native_protocol: str = "crw"
    checkpoint: str = "none"
    weights: tuple[WeightFile, ...] = ()
    input_multiple: int = 1
    paper: str = ""
    license: str = ""
    copy_first_frame: bool = False
    family: str = ""

    @property
    def needs(self) -> str:
        return {
            "none": "nothing",
            "optional": "optional checkpoint (random init without)",
            "required": "checkpoint file",
        }.get(self.checkpoint, self.checkpoint)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything vosbench needs to know about a dataset adapter, without loading it.

    Attributes:
        name: Registry name (``--dataset``).
        description: One line shown by ``vosbench list datasets``.
        factory: ``factory(spec, root, **options) -> VideoDataset`` or a ``"module:attr"`` string.
        task: ``"vos"`` (masks, J&F) or ``"pose"`` (keypoints, PCK).
        subfolder: Folder under ``$VOSBENCH_DATA`` used when ``--data-root`` is not given.
        needs: What the user must provide (shown in listings and errors).
        protocol: Preset used when ``--protocol`` is not given (``None``: the model's native one).
        generated: ``True`` for datasets vosbench writes itself (synthetic); they need no download.
        options: Arguments always passed to the factory (e.g. the split).
        option_types: The ``--dataset-option`` keys the adapter accepts and their types (``bool``,
            ``int``, ``str``, ``path``, ``size``), see :mod:`vosbench.core.dataset_options`;
            ``None`` = not declared (values are passed on unchecked, as text from the command line).
        split_role: What the data is for: ``train`` (may be used to choose settings: ``vosbench
            tune`` accepts it as a tuning split), ``val``, ``trainval`` or ``test`` (evaluation
            data: ``vosbench tune`` refuses to tune on it without ``--allow-test-tuning``);
            ``None`` = not declared (treated as evaluation data).
    """

    name: str
    description: str
    factory: str | Callable[..., Any]
    task: str = "vos"
    subfolder: str = ""
    needs: str = ""
    protocol: str | None = None
    generated: bool = False
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    option_types: dict[str, str] | None = field(default=None, hash=False, compare=False)
    split_role: str | None = None


def import_object(target: str) -> object:
    """The object named ``"package.module:attr"`` (``attr`` may be dotted)."""
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import ``"package.module:attr"`` naming a callable (or return a callable unchanged)."""
    if callable(target):
        return target
    obj = import_object(target)
    if not callable(obj):
        raise TypeError(f"{target!r} names a {type(obj).__name__}, not a callable")
    return obj
