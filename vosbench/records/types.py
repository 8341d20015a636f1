"""The shapes of what a run folder holds, as mypy-checked :class:`typing.TypedDict` types.

- ``summary.json``: :class:`RunSummary` (the run record), with :class:`ModelInfo`,
  :class:`DatasetInfo`, :data:`Metrics`, :class:`Environment`, :class:`RunTimings`,
  :class:`CiBlock`, :class:`Sweep`, :class:`Tuning`, :class:`Execution` and :class:`Progress`;
- ``plan.json``: :class:`Plan` (the record head, the configuration to resume from and the
  sequences with their frame counts);
- ``sequences/<seq>/result.json``: :class:`SequenceResult` (one committed sequence: its scores,
  :class:`ObjectResult` rows for segmentation or PCK ``hits``/``counts`` for keypoints, and its
  :class:`SequenceTimings`);
- ``FILE.summary.json`` of ``vosbench eval``: :class:`EvalSummary`.

TypedDicts are plain dicts at run time: JSON read from disk becomes one of these only after
:mod:`vosbench.records.reader` has checked it. Keys that only some records have (a sweep, a
failed run's error, YouTube-VOS groups) are in the ``total=False`` part of each type. Metric
values are fractions in [0, 1]; a metric that could not be computed is ``None``.
"""

from __future__ import annotations

from typing import Literal, TypedDict, Union

#: a JSON value (what a protocol setting, model option or configuration entry may be)
JSONValue = Union[str, int, float, bool, None, list["JSONValue"], dict[str, "JSONValue"]]
#: a JSON object of settings: model options, the resolved protocol, a run's configuration
Settings = dict[str, JSONValue]
#: ``summary.json`` ``status``
Status = Literal["running", "complete", "failed", "interrupted"]
#: ``summary.json`` ``task``
Task = Literal["vos", "pose", "parsing", "points"]


class _ModelHead(TypedDict):
    name: str


class ModelInfo(_ModelHead, total=False):
    """``summary.json`` ``model``: which encoder, with which weights (``vosbench run`` writes
    every key; a reader relies on ``name`` only)."""

    checkpoint: str | None
    checkpoint_sha256: str | None
    options: Settings
    source: str
    random_init: bool
    features: Settings  # the encoder's ``feature_info`` (layer read, stride, patch handling), if it has one


class _DatasetHead(TypedDict):
    name: str


class DatasetInfo(_DatasetHead, total=False):
    """``summary.json`` ``dataset``: the adapter's ``describe()`` (name, root, task and what the
    built-in adapters add) and the sequences run."""

    root: str
    task: str
    sequences: list[str]
    resolution: str
    split: str | int
    has_gt: bool
    subset: str
    joints: list[str]
    pck: str
    year: int | str
    all_frames: bool
    gt: str | None
    categories: str | None


#: ``summary.json`` ``metrics`` (fractions; ``None`` where undefined, e.g. a YouTube-VOS group
#: without objects). Segmentation: J&F statistics, plus the groups and ``overall`` on YouTube-VOS;
#: keypoints: PCK at the headline thresholds, pooled PCK and ``pck_curve`` (threshold text -> PCK);
#: parsing (VIP): mIoU, pixel and mean accuracy, frequency-weighted IoU (per class: ``per_class_iou.csv``).
Metrics = TypedDict(
    "Metrics",
    {
        "JF_mean": float,
        "J_mean": float,
        "J_recall": float,
        "J_decay": float,
        "F_mean": float,
        "F_recall": float,
        "F_decay": float,
        "overall": Union[float, None],
        "J_seen": Union[float, None],
        "F_seen": Union[float, None],
        "J_unseen": Union[float, None],
        "F_unseen": Union[float, None],
        "PCK@0.1": Union[float, None],
        "PCK@0.2": Union[float, None],
        "PCK_pooled@0.1": Union[float, None],
        "PCK_pooled@0.2": Union[float, None],
        "pck_curve": dict[str, Union[float, None]],
        "mIoU": Union[float, None],
        "pixel_accuracy": Union[float, None],
        "mean_accuracy": Union[float, None],
        "fwIoU": Union[float, None],
        # point tracking (TAP-Vid): tapnet's names, means over videos
        "average_jaccard": Union[float, None],
        "average_pts_within_thresh": Union[float, None],
        "occlusion_accuracy": Union[float, None],
        "jaccard_1": Union[float, None],
        "jaccard_2": Union[float, None],
        "jaccard_4": Union[float, None],
        "jaccard_8": Union[float, None],
        "jaccard_16": Union[float, None],
        "pts_within_1": Union[float, None],
        "pts_within_2": Union[float, None],
        "pts_within_4": Union[float, None],
        "pts_within_8": Union[float, None],
        "pts_within_16": Union[float, None],
    },
    total=False,
)


class Environment(TypedDict, total=False):
    """``summary.json`` ``environment``: versions and hardware. ``tf32`` (the TF32 switches) is
    absent from records written before ``--precision fp32`` meant true fp32 on GPUs."""

    vosbench: str
    git_commit: str | None
    torch: str
    python: str
    device: str
    platform: str
    threads: int
    tf32: dict[str, JSONValue]
    gpu: str
    cuda: str | None
    propagation: str
    host_workers: int


class SequenceTimings(TypedDict, total=False):
    """``result.json`` ``timings``: one sequence's share of the work (seconds, MB). A run writes
    every key but the GPU's peak memory on CPU runs; the record sums what is there."""

    decode_s: float
    features_s: float
    propagation_s: float
    evaluation_s: float
    frames: int
    peak_memory_mb: float
    peak_gpu_memory_mb: float


class RunTimings(SequenceTimings, total=False):
    """``summary.json`` ``timings``: the sums over sequences (peak memory: the largest), the wall
    time and the frame rate (``None`` when the wall time is not positive). Empty (``{}``) in the
    record head."""

    total_s: float
    frames_per_s: float | None


class IntervalBounds(TypedDict):
    """One metric's interval in ``ci.metrics`` (fractions, like ``metrics``)."""

    low: float
    high: float


class _CiHead(TypedDict):
    level: float
    method: str
    resamples: int
    seed: int
    unit: str
    metrics: dict[str, IntervalBounds]


class CiBlock(_CiHead, total=False):
    """``summary.json`` ``ci``: how the bootstrap intervals were made and each metric's bounds;
    YouTube-VOS runs also list their unseen objects (``<sequence>/<object>``)."""

    unseen_objects: list[str]


class Sweep(TypedDict):
    """``summary.json`` ``sweep``: this record's point of a protocol grid."""

    id: str
    settings: dict[str, list[str]]
    point: dict[str, str]
    index: int
    size: int


class TuningSplit(TypedDict):
    """``tuning.tuned_on``: the data the settings were chosen on."""

    dataset: str
    split_role: str | None  # the dataset's catalog role (``train``; ``val``/``test``/... only when allowed)
    sequences: list[str]
    root: str


class TuningPoint(TypedDict):
    """One grid point of ``tuning.points``: its settings, its tuning run and its score there
    (a fraction, with the run's cluster-bootstrap interval; ``None`` where undefined)."""

    index: int
    point: dict[str, str]
    run_id: str
    score: float | None
    low: float | None
    high: float | None


class _TuningHead(TypedDict):
    id: str
    metric: str
    rule: str
    simplicity: str
    tuned_on: TuningSplit
    grid: dict[str, list[str]]
    points: list[TuningPoint]
    best: int
    chosen: int
    choice: dict[str, str]
    allow_test_tuning: bool
    ci_level: float


class Tuning(_TuningHead, total=False):
    """``summary.json`` ``tuning``: the run's protocol settings were chosen by ``vosbench tune``.

    ``grid`` and ``points`` hold every setting tried and its score on ``tuned_on``; ``rule``
    (``best`` or ``simplest-within-ci``) picked ``chosen`` (an index into ``points``; its
    settings are ``choice``, which this run used), ``best`` is the index of the best mean, and
    ``simplicity`` states what "simplest" meant. ``allow_test_tuning`` is true when the settings
    were chosen on evaluation data (``--allow-test-tuning``). A tune over a list of settings
    (``--candidates``) keeps the list as given in ``candidates`` (point ``i`` is candidate
    ``i``); its ``grid`` then names each setting's values in order of first use."""

    candidates: list[dict[str, str]]


class Execution(TypedDict):
    """``summary.json`` ``execution``: present when several shards or processes did the run."""

    shards: int
    launchers: list[str]
    processes: int


class Progress(TypedDict):
    """``summary.json`` ``progress`` of a run that stopped early."""

    sequences_done: int
    sequences_total: int
    missing: list[str]


class _SummaryHead(TypedDict):
    schema_version: int
    run_id: str
    model: ModelInfo
    dataset: DatasetInfo
    protocol: Settings
    metrics: Metrics


class RunSummary(_SummaryHead, total=False):
    """``summary.json``: the run record. The head (``runs.record.head``) has the keys
    up to ``timings``, with ``metrics`` and ``timings`` empty and ``status`` ``running``; the
    record of a finished or stopped run (``runs.record.write_record``) adds the rest. A reader relies on
    the required keys only (:func:`vosbench.records.reader.read_summary` checks them); a record
    without ``status`` is ``complete``, one without ``task`` a segmentation run."""

    created: str
    status: Status
    task: Task
    run_config: Settings
    environment: Environment
    timings: RunTimings
    precision: str
    sweep: Sweep
    tuning: Tuning
    ci: CiBlock
    submission_zip: str
    execution: Execution
    error: str
    signal: str
    progress: Progress


class PlannedSequence(TypedDict):
    """One sequence of ``plan.json``: its name and number of frames."""

    name: str
    frames: int


class Plan(TypedDict):
    """``plan.json``: written once by the first process of a run; every other process (a shard,
    a resumed run) reads it and must agree with it."""

    plan_version: int
    record: RunSummary
    config: Settings
    sequences: list[PlannedSequence]
    submission_prefix: str | None


class ObjectStats(TypedDict):
    """The J and F statistics of one object (fractions; decays in [-1, 1]; NaN: not scored)."""

    J_mean: float
    J_recall: float
    J_decay: float
    F_mean: float
    F_recall: float
    F_decay: float


class ObjectResult(ObjectStats):
    """One object's scores in a segmentation ``result.json``: its statistics, then each scored
    frame's J and F."""

    object: int
    group: str | None
    frames: list[str]
    J_frames: list[float]
    F_frames: list[float]


class _ResultHead(TypedDict):
    sequence: str
    frames: int
    timings: SequenceTimings
    shard: str
    launcher: str
    process: str
    device: str
    process_started: float
    committed_at: float


class SequenceResult(_ResultHead, total=False):
    """``sequences/<seq>/result.json``: one committed sequence. Segmentation runs give
    ``objects``; keypoint runs give ``hits`` (thresholds x joints) and ``counts`` (per joint);
    parsing runs ``confusion`` (the video's 20 x 20 matrix, ground truth x prediction)."""

    objects: list[ObjectResult]
    hits: list[list[int]]
    counts: list[int]
    confusion: list[list[int]]
    queries: int
    tapvid: dict[str, float]


class EvalSummary(Metrics, total=False):
    """``FILE.summary.json`` of ``vosbench eval``: ``schema_version``, ``kind: "eval"``, the
    metrics flat at the top level (as in a record's ``metrics``) and facts about what was scored
    (which of them depends on the benchmark)."""

    schema_version: int
    kind: Literal["eval"]
    benchmark: str
    objects: int
    sequences: int
    videos: int
    frames_per_sequence: dict[str, int]
    frames_per_video: dict[str, int]
    binary_gt: bool
    categories: str | None
    unseen_categories: list[str] | None
    split: str | int
    subset: str
    gt: str
    pred: str
    meta: str
    rules: str
    vosbench_version: str
    seconds: float
