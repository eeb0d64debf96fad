"""Typed configuration objects: frozen dataclasses built once from the validated YAML.

The field names mirror workflow/schemas/config.schema.yaml one to one; config/README.md documents
them. Code below the CLIs takes these objects, never raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class TuneData:
    """Training benchmarks per modality (their train splits are mixed 1:1; empty = not tuned)."""

    rgbt: tuple[str, ...]
    rgbd: tuple[str, ...]
    rgbe: tuple[str, ...]
    rgbx: tuple[str, ...]  # joint RGB-X: one tracker on benchmarks of several modalities


@dataclass(frozen=True)
class EvalData:
    """Test benchmarks per modality; None = the modality's training benchmarks that have a test split."""

    rgbt: tuple[str, ...] | None
    rgbd: tuple[str, ...] | None
    rgbe: tuple[str, ...] | None
    rgbx: tuple[str, ...] | None


@dataclass(frozen=True)
class MethodVariant:
    """A named method setting for sweeps and ablations: a regularizer plus `dotted.key: value` overrides."""

    method: str
    set: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    """One setting swept over values for some labels: each (label, value) is a variant of its own,
    named by `sweep_label` (srtrack/config/loader.py) and tuned on `modalities`."""

    key: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    modalities: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class StudyConfig:
    name: str
    seed: int
    seeds: tuple[int, ...]
    output_dir: Path
    methods: tuple[str, ...]
    ablations: dict[str, tuple[str, ...]]
    variants: dict[str, MethodVariant]
    sweeps: dict[str, Sweep]
    tune_data: TuneData
    eval_data: EvalData
    provides: tuple[str, ...] = ()  # the layers merged so far (config/paper/common.yaml: paper-common)
    requires: tuple[str, ...] = ()  # the layers a file must be merged after (every paper setting: paper-common)


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str
    experiment: str
    connect_timeout_s: float  # the check at every stage's start, and each probe during an outage
    request_retries: int  # MLflow's HTTP retries per call
    request_timeout_s: float  # MLflow's timeout per HTTP call
    outage_wait_s: float  # how long a finishing stage waits for a silent server before spooling its writes


@dataclass(frozen=True)
class DatasetConfig:
    """Where one benchmark lives and which sequence lists to use."""

    root: Path | None
    train_list: str
    test_list: str


@dataclass(frozen=True)
class LasherConfig(DatasetConfig):
    gt_file: Literal["init.txt", "visible.txt"]


@dataclass(frozen=True)
class GtotConfig(DatasetConfig):
    corner_width: Literal["x2-x1", "x2-x1+1"]


@dataclass(frozen=True)
class DatasetsConfig:
    got10k: DatasetConfig
    lasher: LasherConfig
    rgbt234: DatasetConfig
    gtot: GtotConfig
    depthtrack: DatasetConfig
    vot_rgbd22: DatasetConfig
    visevent: DatasetConfig
    coesot: DatasetConfig
    fe108: DatasetConfig


@dataclass(frozen=True)
class SynthSplit:
    sequences: int
    frames: int


@dataclass(frozen=True)
class SynthConfig:
    """Sizes and difficulty of the synthetic benchmarks (see srtrack/synth)."""

    root: Path
    frame_size: tuple[int, int]
    pretrain: SynthSplit  # RGB, GOT-10k train/
    rgb_test: SynthSplit  # RGB, GOT-10k val/ (held out: retention is scored there)
    train: SynthSplit
    test: SynthSplit
    night_fraction: float
    distractor_fraction: float
    occlusion_fraction: float
    out_of_view_fraction: float
    fast_motion_fraction: float
    thermal_contrast: float
    event_threshold: float


@dataclass(frozen=True)
class SamplerConfig:
    """Training-pair sampling and processing (OSTrack conventions; see srtrack/datasets/sampling.py)."""

    template_factor: float
    search_factor: float
    center_jitter: float
    scale_jitter: float
    max_gap: int
    flip_prob: float
    gray_prob: float
    brightness_jitter: float
    cache_mb: int  # decoded frames per training process, shared out among its DataLoader workers
    workers: int
    pin_memory: bool  # on CUDA: page-locked batches, copied to the GPU asynchronously
    persistent_workers: bool  # one DataLoader for the whole run instead of one per epoch
    crop: Literal["official", "continuous"]


# sampler keys that change how fast pairs arrive, never which pairs: not part of a run's identity
LOADER_ONLY_KEYS = ("cache_mb", "workers", "pin_memory", "persistent_workers")


@dataclass(frozen=True)
class DepthEncodingConfig:
    colormap: Literal["jet", "turbo", "gray"]
    clip: Literal["median3", "fixed", "none"]
    max_mm: int


@dataclass(frozen=True)
class EventEncodingConfig:
    representation: Literal["frames"]


@dataclass(frozen=True)
class EncodingConfig:
    depth: DepthEncodingConfig
    event: EventEncodingConfig


@dataclass(frozen=True)
class PrepareConfig:
    check_images: Literal["all", "sampled", "none"]
    sample_every: int
    max_frame_pixels: int  # a frame whose header declares more (width x height) is refused undecoded


@dataclass(frozen=True)
class CandidateEliminationConfig:
    """OSTrack's candidate elimination on one-stream backbones (srtrack/models/elimination.py)."""

    layers: tuple[int, ...]
    keep_ratio: float


@dataclass(frozen=True)
class LoraConfig:
    rank_qkv: int
    rank_proj: int
    alpha: float


@dataclass(frozen=True)
class ModelConfig:
    """The tracker network and where its weights come from (srtrack/models/spec.py)."""

    name: str
    template_size: int
    search_size: int
    drop_path_rate: float
    pretrained: Path | None
    pos_embed_from: Path | None
    pos_embed_resample: Literal["ostrack", "timm"]
    temporal_pos_embed: Literal["from_checkpoint", "ignore"]
    candidate_elimination: CandidateEliminationConfig
    lora: LoraConfig


@dataclass(frozen=True)
class KappaConfig:
    kind: Literal["constant", "linear", "cosine"]
    start: float
    end: float


@dataclass(frozen=True)
class MethodConfig:
    """The regularizer and its settings (srtrack/method/regularizers.py, docs/method.md)."""

    name: str
    m_min: float
    m_max: float
    kappa: KappaConfig
    transfer_weight: Literal["complement", "independent"]
    penalty_weight: float
    bug_compatible: bool
    smoothing: Literal["window", "ema"]
    rank_every: int
    rank_method: Literal["exact", "quantile"]
    prior_on: Literal["update", "gradient"]
    prior_form: Literal["projection", "penalty"]
    sparsity_scaling: bool


@dataclass(frozen=True)
class SensitivityConfig:
    """Prior-sensitivity extraction: RGB data, N samples, vmap chunk, rank k or energy share per matrix."""

    dataset: Literal["got10k"]
    samples: int
    chunk: int
    rank: int | None
    energy: float | None


@dataclass(frozen=True)
class LearningRates:
    """Per parameter group (srtrack.models.trackers.PARAM_GROUPS); the two-stream X side's blocks and
    patch embedding take `blocks_x` / `embeddings_x`, or the RGB side's rate when None."""

    blocks: float
    embeddings: float
    blocks_x: float | None
    embeddings_x: float | None
    pos_embed: float
    fusion: float
    norms: float
    head: float
    prompt: float
    lora: float


@dataclass(frozen=True)
class ScheduleConfig:
    kind: Literal["constant", "step", "cosine"]
    drop_epoch: int
    gamma: float
    warmup_steps: int


@dataclass(frozen=True)
class CandidateEliminationSchedule:
    """CE in training (OSTrack `adjust_keep_rate`): keep 1 before `start_epoch`, cosine to the model's
    keep ratio over `warm_epochs`; null start = no elimination in training."""

    start_epoch: int | None
    warm_epochs: int


@dataclass(frozen=True)
class TrainConfig:
    """One training run's schedule (the `train` section for tuning, `pretrain` for RGB pre-training)."""

    epochs: int
    samples_per_epoch: int
    sequences: int | None  # the first N sequences of each training split; None = all
    global_batch: int
    micro_batch: int | None
    lr_reference_batch: int | None
    weight_decay: float
    grad_clip: float
    lr: LearningRates
    released_lr_override: bool  # every group at RELEASED_OVERRIDE_LR, as the released optimizer's second block
    schedule: ScheduleConfig
    precision: Literal["auto", "fp32", "bf16"]
    checkpoint_every: int
    log_every: int
    probe_samples: int
    candidate_elimination: CandidateEliminationSchedule
    activation_checkpointing: bool  # recompute each backbone block's activations in the backward pass
    fused_adamw: bool  # on CUDA: AdamW as one fused kernel
    tf32: bool  # on CUDA: TF32 tensor cores for fp32 matmuls and convolutions
    compile: Literal["none", "inductor", "aot_eager"]  # torch.compile backend of the training forward
    frozen_batchnorm: Literal["eval", "train"] = "eval"  # BatchNorm of frozen modules: running statistics kept (released)


@dataclass(frozen=True)
class RetentionConfig:
    dataset: str | None
    sequences: int


@dataclass(frozen=True)
class BocConfig:
    """Where COESOT's BOC rewards come from (srtrack.metrics.boc); no reference = no BOC."""

    reference: Path | None
    sequences: Path | None


@dataclass(frozen=True)
class EvaluateConfig:
    batch: int | Literal["auto"]  # sequences tracked in lockstep per process; auto: from the GPU's memory
    workers: int
    profiles: dict[str, tuple[str, ...]]
    retention: RetentionConfig
    vot_toolkit: bool
    boc: BocConfig
    precision: Literal["fp32", "bf16"]
    short_results: Literal["warn", "error"]
    epoch: int | None = None  # the epoch whose weights a tuned tracker is scored with; None: the last


@dataclass(frozen=True)
class ResourcesConfig:
    """What a training job asks the cluster for and how its processes are launched (srtrack.slurm)."""

    nodes: int
    gpus_per_node: int
    procs_per_node: int | None
    launcher: Literal["auto", "torchrun", "srun"]
    cpus_per_task: int
    mem_gb: int
    runtime_min: int
    partition: str | None  # training and tracking jobs
    account: str | None
    ddp_backend: Literal["auto", "gloo", "nccl"]
    gpu_type: str | None  # the step-time calibration `srtrack.plan` estimates GPU-hours with
    gpu_mem_gb: float | None  # memory of one GPU, what the plan checks each process's peak against
    cpu_partition: str | None = None  # CPU-only jobs (data, comparison, report); None = partition
    qos: str | None = None
    constraint: str | None = None
    gres_type: str | None = None  # the cluster's GRES type name of the GPUs (gpu:<type>:<n>)
    max_runtime_min: int | None = None  # the partition's time limit
    node_mem_gb: int | None = None  # one node's memory
    stop_margin_min: float = 10.0  # a training job inside Slurm stops with a checkpoint this long before its limit


@dataclass(frozen=True)
class Config:
    """The whole validated configuration, plus the files it came from (for error messages)."""

    study: StudyConfig
    mlflow: MlflowConfig
    datasets: DatasetsConfig
    synth: SynthConfig
    encoding: EncodingConfig
    prepare: PrepareConfig
    sampler: SamplerConfig
    model: ModelConfig
    method: MethodConfig
    sensitivity: SensitivityConfig
    train: TrainConfig
    pretrain: TrainConfig
    evaluate: EvaluateConfig
    resources: ResourcesConfig
    sources: tuple[Path, ...] = ()
    overrides: tuple[str, ...] = ()  # the --set assignments, for error messages
