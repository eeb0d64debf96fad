"""The study as typed runs: the one place where a study label becomes a method, a network and settings.

`cfg.study` names labels: regularizers (`full`, `lora`, `srft`, ...), `study.variants` entries (a
regularizer plus `dotted.key: value` overrides) and the variants `study.sweeps` make (a label with
one key at each of several values). `Study(cfg)` resolves every label once into a
`Label` and expands the grid into `TuningRun`s, `EvaluationRun`s and `RetentionRun`s. The
Snakefile, the stage CLIs (`--label`) and the report all read the study through this module;
nothing else interprets a label. Torch-free, so that the Snakefile can import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from srtrack.config import Config, all_variants, method_names, sweep_label
from srtrack.datasets import READERS, X_MODALITY
from srtrack.errors import ConfigError

JOINT = "rgbx"  # one tracker tuned on the benchmarks of several RGB-X modalities at once (released droptrack_rgbx)
MODALITIES = (*(m for m, x in X_MODALITY.items() if x), JOINT)  # tuned from RGB: rgbt, rgbd, rgbe, rgbx
BASELINE = "pretrained"  # the RGB tracker before tuning, evaluated beside the tuned ones
# regularizers that read the prior artifact (a test checks this against the registry, which imports torch)
PRIOR_METHODS = frozenset({"ewc", "prior_only", "srft"})
# SRFT and its parts (srtrack.method.regularizers: SRFT and its subclasses): the rows a report calls "ours";
# every other method (full fine-tuning, LoRA, prompts, L2-SP, EWC, ...) is a baseline
SRFT_METHODS = frozenset({"srft", "prior_only", "transfer_only"})
# the network family a PEFT method trains instead of model.name (same size)
PEFT_TRACKERS = {"prompt": "vipt", "lora": "srtrack_lora"}


def model_size(model_name: str) -> str:
    """`srtrack_lora_tiny` -> `tiny`."""
    return model_name.rsplit("_", 1)[-1]


def rgb_counterpart(model_name: str) -> str:
    """The one-stream RGB tracker whose weights initialise `model_name` (its prior is computed on it)."""
    return f"ostrack_{model_size(model_name)}"


def tracker_for_method(model_name: str, method: str) -> str:
    """The network a method trains: ViPT for prompt tuning, the LoRA tracker for LoRA, else `model_name`."""
    family = PEFT_TRACKERS.get(method)
    return f"{family}_{model_size(model_name)}" if family else model_name


def peft_family(model_name: str) -> str | None:
    """The PEFT method whose network family `model_name` belongs to (`srtrack_lora_tiny` -> lora)."""
    return next((method for method, family in PEFT_TRACKERS.items() if model_name.startswith(f"{family}_")), None)


@dataclass(frozen=True)
class Label:
    """A study label resolved: what a run of it really is.

    `method` is the regularizer (`method.name`), `model` the network it trains (`model.name`), `settings`
    the variant's other overrides; the baseline's method is None (it is not tuned)."""

    name: str
    method: str | None
    model: str
    settings: Mapping[str, Any]
    prior_variant: str | None = None  # a variant that sets sensitivity.* gets a prior of its own

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE

    @property
    def uses_prior(self) -> bool:
        return self.method in PRIOR_METHODS

    def assignments(self) -> list[str]:
        """The `--set`s that turn the study's config into this label's effective config."""
        pairs = ([("method.name", self.method)] if self.method else []) + [("model.name", self.model)]
        return [f"{k}={json.dumps(v)}" for k, v in [*pairs, *self.settings.items()]]


@dataclass(frozen=True)
class SweepPoint:
    """One (label, value) of a sweep: the variant `name` is `label` with the swept key at `value`."""

    label: str
    value: Any
    name: str


@dataclass(frozen=True)
class TuningRun:
    modality: str
    label: Label
    seed: int


@dataclass(frozen=True)
class EvaluationRun:
    """One tracker scored on a test split: a tuned (label, seed), or the baseline (seed = study.seed)."""

    dataset: str
    modality: str
    label: Label
    seed: int


@dataclass(frozen=True)
class RetentionRun:
    """One tracker scored on RGB data: a tuned (modality, label, seed), or the RGB tracker (tuned_on None)."""

    tuned_on: str | None
    label: Label
    seed: int

    @property
    def retained(self) -> str:
        """The run's name in paths: `<modality>.<label>`, or the baseline's label."""
        return self.label.name if self.tuned_on is None else retained_name(self.tuned_on, self.label.name)


def retained_name(modality: str, label: str) -> str:
    """What a tracker tuned on `modality` retains on RGB data, as named in paths."""
    return f"{modality}.{label}"


@dataclass(frozen=True)
class ScoringRun:
    """One tracker scored in one process: a tuned (modality, label, seed), or the modality's untuned
    tracker (the baseline, seed = study.seed), on the modality's test splits and, with retention on,
    on the RGB split (what it retains). Together they are every `EvaluationRun` and every `RetentionRun`
    of a tuned modality; only the RGB tracker's own retention run is scored apart."""

    modality: str
    label: Label
    seed: int


class Study:
    """The grid `cfg.study` describes, over the benchmarks whose roots are configured."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.variants = all_variants(cfg.study)

    # --- labels -------------------------------------------------------------------------------
    def label(self, name: str) -> Label:
        """Resolve a label: a regularizer, a variant, or the baseline; anything else is a ConfigError."""
        if name == BASELINE:
            return Label(BASELINE, None, self.cfg.model.name, {})
        variant = self.variants.get(name)
        if variant is None and name not in method_names():
            raise ConfigError(f"label {name!r} is neither a method ({', '.join(sorted(method_names()))}), a "
                              f"study.variants or study.sweeps entry ({', '.join(self.variants) or 'none'}) nor {BASELINE!r}")
        method = variant.method if variant else name
        settings = dict(variant.set) if variant else {}
        base_model = settings.pop("model.name", self.cfg.model.name)
        prior_variant = name if any(k.startswith("sensitivity.") for k in settings) else None
        return Label(name, method, tracker_for_method(base_model, method), settings, prior_variant)

    def baseline_network(self, modality: str) -> str:
        """The network the pretrained weights run as: the RGB-X model.name, or its RGB counterpart on RGB."""
        return rgb_counterpart(self.cfg.model.name) if modality == "rgb" else self.cfg.model.name

    # --- data ---------------------------------------------------------------------------------
    def has_rgb_data(self) -> bool:
        return getattr(self.cfg.datasets, self.cfg.sensitivity.dataset).root is not None

    def tune_datasets(self, modality: str) -> list[str]:
        """The configured training benchmarks of a modality (those with a root)."""
        return [n for n in getattr(self.cfg.study.tune_data, modality) if getattr(self.cfg.datasets, n).root is not None]

    def eval_datasets(self, modality: str) -> list[str]:
        """The benchmarks (with a root) a modality's trackers are evaluated on: `study.eval_data.<modality>`,
        else its training benchmarks with a test split."""
        chosen = getattr(self.cfg.study.eval_data, modality)
        if chosen is None:
            return [n for n in self.tune_datasets(modality) if "test" in READERS[n].splits]
        return [n for n in chosen if getattr(self.cfg.datasets, n).root is not None]

    def is_synthetic(self, dataset: str) -> bool:
        """True where a benchmark root lies inside synth.root, i.e. `srtrack.synth` writes it."""
        root = getattr(self.cfg.datasets, dataset).root
        synth = Path(self.cfg.synth.root).resolve()
        return root is not None and synth in [root.resolve(), *root.resolve().parents]

    def retention_split(self) -> tuple[str, str] | None:
        """(RGB benchmark, split) retention is scored on: its test split, else train; None when off."""
        name = self.cfg.evaluate.retention.dataset
        if name is None or getattr(self.cfg.datasets, name).root is None:
            return None
        return name, "test" if "test" in READERS[name].splits else "train"

    def used_splits(self) -> list[tuple[str, str]]:
        """(benchmark, split) of every split some stage of the study reads: the RGB pre-training and
        prior data, the tuned modalities' training and test splits, the retention split."""
        used = [(self.cfg.sensitivity.dataset, "train")] if self.has_rgb_data() else []
        for modality in self.tuned_modalities():
            if self.labels(modality):
                used += [(name, "train") for name in self.tune_datasets(modality)]
                used += [(name, "test") for name in self.eval_datasets(modality)]
        retention = self.retention_split()
        if retention is not None and next(self.retention_runs(), None) is not None:
            used.append(retention)
        return sorted(set(used))

    # --- the grid -----------------------------------------------------------------------------
    def tuned_modalities(self) -> list[str]:
        """Modalities with training data."""
        return [m for m in MODALITIES if self.tune_datasets(m)]

    def labels(self, modality: str) -> list[Label]:
        """`study.methods` plus the modality's `study.ablations`, less those that cannot run: without RGB
        data there is no pre-training (unless model.pretrained is given) and no prior."""
        swept = [point.name for sweep in self.cfg.study.sweeps if modality in self.cfg.study.sweeps[sweep].modalities
                 for point in self.sweep_points(sweep)]
        names = list(dict.fromkeys([*self.cfg.study.methods, *self.cfg.study.ablations.get(modality, ()), *swept]))
        labels = [self.label(n) for n in names]
        if self.has_rgb_data():
            return labels
        if self.cfg.model.pretrained is None:
            return []
        return [label for label in labels if not label.uses_prior]

    def sweep_points(self, sweep: str) -> list[SweepPoint]:
        """The (label, value) points of `study.sweeps.<sweep>`, label by label in value order."""
        spec = self.cfg.study.sweeps[sweep]
        return [SweepPoint(label, value, sweep_label(label, sweep, value)) for label in spec.labels for value in spec.values]

    def swept_labels(self) -> set[str]:
        """The labels the sweeps make."""
        return {point.name for sweep in self.cfg.study.sweeps for point in self.sweep_points(sweep)}

    def sweep_modalities(self) -> list[tuple[str, str]]:
        """(sweep, modality) for every sweep on every tuned modality it names: one trade-off figure each."""
        tuned = self.tuned_modalities()
        return [(name, m) for name, sweep in self.cfg.study.sweeps.items() for m in sweep.modalities if m in tuned]

    def plasticity_modalities(self) -> list[str]:
        """Tuned modalities with a plasticity-stability table (and points in its scatter): retention is
        scored, the modality has a test benchmark, and some label of it is not a sweep point."""
        if self.retention_split() is None:
            return []
        swept = self.swept_labels()
        return [m for m in self.tuned_modalities()
                if self.eval_datasets(m) and any(name not in swept for name in self.label_names(m))]

    def label_names(self, modality: str) -> list[str]:
        return [label.name for label in self.labels(modality)]

    def tuning_runs(self) -> Iterator[TuningRun]:
        """Every (modality, label, seed) the study tunes."""
        for modality in self.tuned_modalities():
            for label in self.labels(modality):
                for seed in self.cfg.study.seeds:
                    yield TuningRun(modality, label, seed)

    def evaluation_runs(self) -> Iterator[EvaluationRun]:
        """Every tuned modality's test splits: each label and seed, and the baseline (of study.seed)."""
        baseline = self.label(BASELINE)
        for modality in self.tuned_modalities():
            labels = self.labels(modality)
            for dataset in self.eval_datasets(modality) if labels else []:
                for label in labels:
                    for seed in self.cfg.study.seeds:
                        yield EvaluationRun(dataset, modality, label, seed)
                yield EvaluationRun(dataset, modality, baseline, self.cfg.study.seed)

    def retention_runs(self) -> Iterator[RetentionRun]:
        """Every tuned tracker scored on RGB data; per tuned modality the untuned RGB-X tracker (the
        pretrained weights in the two-stream network, where tuning starts); then the RGB tracker itself."""
        if self.retention_split() is None:
            return
        runs = [RetentionRun(r.modality, r.label, r.seed) for r in self.tuning_runs()]
        yield from runs
        if runs:
            baseline = self.label(BASELINE)
            yield from (RetentionRun(m, baseline, self.cfg.study.seed) for m in dict.fromkeys(r.tuned_on for r in runs))
            yield RetentionRun(None, baseline, self.cfg.study.seed)

    def scored_modalities(self) -> list[str]:
        """Tuned modalities with something to score: labels, and a test benchmark or the retention split."""
        return [m for m in self.tuned_modalities()
                if self.labels(m) and (self.eval_datasets(m) or self.retention_split() is not None)]

    def scoring_runs(self) -> Iterator[ScoringRun]:
        """Every tracker of the scored modalities: each label and seed, then the untuned tracker."""
        baseline = self.label(BASELINE)
        for modality in self.scored_modalities():
            for label in self.labels(modality):
                yield from (ScoringRun(modality, label, seed) for seed in self.cfg.study.seeds)
            yield ScoringRun(modality, baseline, self.cfg.study.seed)

    def display_name(self, label: Label, seed: int) -> str:
        """A tracker's name in plots: the label, with the seed when the study has several."""
        return label.name if len(self.cfg.study.seeds) == 1 or label.is_baseline else f"{label.name}-seed{seed}"
