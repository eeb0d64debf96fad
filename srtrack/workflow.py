"""Helpers the Snakemake workflow imports: output layout, targets, and the resolved config file.

Kept here rather than in workflow/rules/common.smk so that it is importable and unit-tested.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from srtrack.config import Config, config_to_dict, variant_overrides
from srtrack.datasets import READERS
from srtrack.errors import ConfigError
from srtrack.io import write_text_atomic
from srtrack.naming import rgb_counterpart

RESOLVED_CONFIG = "config.resolved.yaml"


def index_path(out_dir: Path | str, dataset: str, split: str) -> str:
    """Where `prepare` writes the index of one benchmark split."""
    return f"{out_dir}/data/{dataset}-{split}/index.json"


def prepare_targets(cfg: Config) -> list[str]:
    """Index files of every benchmark split whose root is configured."""
    targets = []
    for name, reader in sorted(READERS.items()):
        if getattr(cfg.datasets, name).root is None:
            continue
        targets.extend(index_path(cfg.study.output_dir, name, split) for split in reader.splits)
    return targets


def synth_manifest(cfg: Config) -> str:
    """The file that marks the synthetic benchmarks as written."""
    return f"{cfg.synth.root}/manifest.json"


def is_synthetic(cfg: Config, dataset: str) -> bool:
    """True where a benchmark root lies inside synth.root, i.e. `srtrack.synth` writes it."""
    root = getattr(cfg.datasets, dataset).root
    return root is not None and Path(cfg.synth.root).resolve() in [root.resolve(), *root.resolve().parents]


def prepare_inputs(cfg: Config, dataset: str) -> dict[str, str]:
    """Inputs of `prepare` for one benchmark: the synth manifest where the data is synthetic."""
    return {"synth": synth_manifest(cfg)} if is_synthetic(cfg, dataset) else {}


def fingerprint(cfg: Config, *sections: str) -> str:
    """A short hash of the config sections a stage depends on (dotted names).

    Rules get it as a param, so Snakemake's params trigger reruns a stage when one of its sections
    changes, and only then: the resolved config file is passed as a param, not an input, because
    its modification time changes with every section.
    """
    data = config_to_dict(cfg)
    picked = {}
    for dotted in sections:
        value: Any = data
        for part in dotted.split("."):
            value = value[part]
        picked[dotted] = value
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


# methods whose regularizer reads the prior artifact (tests check this against the registry, which
# imports torch; the Snakefile should not)
PRIOR_METHODS = frozenset({"ewc", "prior_only", "srft"})
MODALITIES = ("rgbt", "rgbd", "rgbe")


def prior_path(cfg: Config, variant: str | None = None) -> str:
    """Where the sensitivity stage writes the prior of the configured pretrained tracker; a variant
    that changes the prior's own settings (an N or rank sweep) gets its own, in a subfolder."""
    base = f"{cfg.study.output_dir}/prior/{cfg.sensitivity.dataset}"
    return f"{base}/prior.safetensors" if variant is None else f"{base}/{variant}/prior.safetensors"


def prior_variant(cfg: Config, label: str) -> str | None:
    """`label` when it is a variant that overrides `sensitivity.*` (so it needs its own prior), else None."""
    variant = cfg.study.variants.get(label)
    return label if variant and any(k.startswith("sensitivity.") for k in variant.set) else None


def prior_overrides(cfg: Config, variant: str) -> str:
    """The sensitivity CLI's `--set`s for a variant's own prior."""
    return " ".join(f"--set {shlex.quote(a)}" for a in variant_overrides(cfg.study.variants[variant])
                    if a.startswith("sensitivity."))


def pretrain_path(cfg: Config) -> str:
    """The synthetic default's RGB pre-training result."""
    return f"{cfg.study.output_dir}/pretrain/model.pth"


def pretrained_checkpoint(cfg: Config) -> str:
    """The tracker every tuning run starts from: model.pretrained, else the pre-training stage's."""
    return str(cfg.model.pretrained) if cfg.model.pretrained is not None else pretrain_path(cfg)


def has_rgb_data(cfg: Config) -> bool:
    return getattr(cfg.datasets, cfg.sensitivity.dataset).root is not None


def sensitivity_targets(cfg: Config) -> list[str]:
    """The prior artifact, when the RGB data and a pretrained tracker (given or pre-trained) exist."""
    return [prior_path(cfg)] if has_rgb_data(cfg) else []


def base_method(cfg: Config, label: str) -> str:
    """The regularizer behind a study label (a method name, or a variant's method)."""
    variant = cfg.study.variants.get(label)
    return variant.method if variant else label


def tune_settings(cfg: Config, label: str, seed: int | str) -> str:
    """The tune CLI options that make a run of `label` with `seed`: its method and `--set`s."""
    variant = cfg.study.variants.get(label)
    assignments = [f"study.seed={seed}"] + (variant_overrides(variant) if variant else [])
    return " ".join([f"--method {base_method(cfg, label)} --label {label}"]
                    + [f"--set {shlex.quote(a)}" for a in assignments])


def tune_path(cfg: Config, modality: str, method: str, seed: int | str) -> str:
    """The tuned tracker of one (modality, method or variant, seed)."""
    return f"{cfg.study.output_dir}/tune/{modality}/{method}/seed{seed}/model.pth"


def tune_datasets(cfg: Config, modality: str) -> list[str]:
    """The configured training benchmarks of a modality (those with a root)."""
    return [name for name in getattr(cfg.study.tune_data, modality) if getattr(cfg.datasets, name).root is not None]


def tune_inputs(cfg: Config, modality: str, method: str) -> dict[str, Any]:
    """Inputs of one tuning run: its train indexes, the starting tracker, and the prior if the method uses it."""
    inputs: dict[str, Any] = {"indexes": [index_path(cfg.study.output_dir, name, "train")
                                          for name in tune_datasets(cfg, modality)],
                              "init": pretrained_checkpoint(cfg)}
    if base_method(cfg, method) in PRIOR_METHODS:
        inputs["prior"] = prior_path(cfg, prior_variant(cfg, method))
    return inputs


def tuned_methods(cfg: Config, modality: str) -> list[str]:
    """`study.methods` plus the modality's `study.ablations`, less those that cannot run: without RGB
    data there is no pre-training (unless model.pretrained is given) and no prior."""
    labels = list(dict.fromkeys([*cfg.study.methods, *cfg.study.ablations.get(modality, ())]))
    if has_rgb_data(cfg):
        return labels
    if cfg.model.pretrained is None:
        return []
    return [m for m in labels if base_method(cfg, m) not in PRIOR_METHODS]


def tuned_modalities(cfg: Config) -> list[str]:
    """Modalities with training data."""
    return [m for m in MODALITIES if tune_datasets(cfg, m)]


def tuned_runs(cfg: Config) -> Iterator[tuple[str, str, int]]:
    """Every (modality, method or variant, seed) the study tunes."""
    for modality in tuned_modalities(cfg):
        for method in tuned_methods(cfg, modality):
            for seed in cfg.study.seeds:
                yield modality, method, seed


def tune_targets(cfg: Config) -> list[str]:
    """One tuned tracker per (tuned modality, method, seed)."""
    return [tune_path(cfg, *run) for run in tuned_runs(cfg)]


BASELINE = "pretrained"  # the RGB tracker before tuning, evaluated on the same test splits


def eval_path(cfg: Config, dataset: str, tracker: str, seed: int | str) -> str:
    """Scores of one tracker (a tuned method of one seed, or the baseline) on a benchmark's test split."""
    return f"{cfg.study.output_dir}/eval/{dataset}/{tracker}/seed{seed}/metrics.json"


def eval_checkpoint(cfg: Config, dataset: str, tracker: str, seed: int | str) -> str:
    """The weights evaluated: the pretrained tracker for the baseline, else the tuned one."""
    if tracker == BASELINE:
        return pretrained_checkpoint(cfg)
    return tune_path(cfg, READERS[dataset].modality, tracker, seed)


def eval_model_option(cfg: Config, tracker: str) -> str:
    """evaluate's `--model`: only for the baseline, whose RGB weights run as the RGB-X model.name;
    a tuned tracker's model.pth names its own network."""
    return f"--model {cfg.model.name}" if tracker == BASELINE else ""


def eval_name(cfg: Config, tracker: str, seed: int | str) -> str:
    """The tracker's name in plots and tables: the label, with the seed when the study has several."""
    return tracker if len(cfg.study.seeds) == 1 or tracker == BASELINE else f"{tracker}-seed{seed}"


def eval_targets(cfg: Config) -> list[str]:
    """Every tuned modality's test splits (of benchmarks that have one): each method and seed, and the
    baseline (the pretrained tracker of study.seed)."""
    targets = []
    for modality in tuned_modalities(cfg):
        methods = tuned_methods(cfg, modality)
        for name in eval_datasets(cfg, modality) if methods else []:
            targets += [eval_path(cfg, name, m, seed) for m in methods for seed in cfg.study.seeds]
            targets.append(eval_path(cfg, name, BASELINE, cfg.study.seed))
    return targets


def eval_datasets(cfg: Config, modality: str) -> list[str]:
    """The benchmarks a modality's trackers are evaluated on: its training benchmarks with a test split."""
    return [name for name in tune_datasets(cfg, modality) if "test" in READERS[name].splits]


def compare_path(cfg: Config, dataset: str) -> str:
    """The folder of a benchmark's comparison plots (every evaluated tracker on the same axes)."""
    return f"{cfg.study.output_dir}/eval/{dataset}/comparison"


def compare_inputs(cfg: Config, dataset: str) -> list[str]:
    """The scores a benchmark's comparison draws."""
    return [t for t in eval_targets(cfg) if t.startswith(f"{cfg.study.output_dir}/eval/{dataset}/")]


def compare_targets(cfg: Config) -> list[str]:
    datasets = sorted({Path(t).parents[2].name for t in eval_targets(cfg)})
    return [compare_path(cfg, name) for name in datasets]


# what a tracking result depends on (evaluate.retention only selects which runs exist)
EVALUATE_SECTIONS = ("model", "evaluate.batch", "evaluate.workers", "evaluate.profiles", "sampler", "encoding")


def retention_split(cfg: Config) -> tuple[str, str] | None:
    """(RGB benchmark, split) the retention is scored on: its test split, else train; None when off."""
    name = cfg.evaluate.retention.dataset
    if name is None or getattr(cfg.datasets, name).root is None:
        return None
    return name, "test" if "test" in READERS[name].splits else "train"


def retention_path(cfg: Config, retained: str, seed: int | str) -> str:
    """Scores on RGB data of `<modality>.<label>` (a tuned tracker) or of the pretrained baseline."""
    return f"{cfg.study.output_dir}/retention/{retained}/seed{seed}/metrics.json"


def retention_targets(cfg: Config) -> list[str]:
    """Every tuned tracker (modality, method, seed) and the baseline, scored on RGB data."""
    runs = list(tuned_runs(cfg))
    if retention_split(cfg) is None or not runs:
        return []
    targets = [retention_path(cfg, f"{modality}.{method}", seed) for modality, method, seed in runs]
    return targets + [retention_path(cfg, BASELINE, cfg.study.seed)]


def split_retained(retained: str) -> tuple[str | None, str]:
    """`<modality>.<label>` -> (modality, label); the baseline -> (None, "pretrained")."""
    modality, _, label = retained.rpartition(".") if retained != BASELINE else ("", "", BASELINE)
    return modality or None, label


def retention_checkpoint(cfg: Config, retained: str, seed: int | str) -> str:
    modality, label = split_retained(retained)
    return pretrained_checkpoint(cfg) if modality is None else tune_path(cfg, modality, label, seed)


def retention_options(cfg: Config, retained: str, seed: int | str) -> str:
    """The evaluate CLI options of one retention run: names, the tracker variant, the sequence cap."""
    modality, label = split_retained(retained)
    # the baseline is the RGB tracker itself (one-stream): what there is to retain
    options = [f"--name {label}", f"--label {label}", f"--max-sequences {cfg.evaluate.retention.sequences}",
               f"--set study.seed={seed}"]
    if modality is None:  # a tuned tracker's model.pth names its own network
        options.append(f"--model {rgb_counterpart(cfg.model.name)}")
    if modality is not None:
        options.append(f"--tuned-on {modality}")
    return " ".join(options)


def report_plots(cfg: Config, caption: str) -> dict[str, Any]:
    """The report's figures as rule outputs, flagged for `snakemake --report` with `caption`."""
    from snakemake.io import report

    if not retention_targets(cfg):
        return {}
    return {"plasticity": report(f"{cfg.study.output_dir}/report/plasticity_stability.png", caption=caption,
                                 category="Tables")}


def report_path(cfg: Config) -> str:
    """The study's tables (python -m srtrack.report)."""
    return f"{cfg.study.output_dir}/report/tables.md"


def smoke_targets(cfg: Config) -> list[str]:
    """`snakemake smoke`: one pass through every stage (the first modality, method and seed, and the
    baseline) to check a config or a cluster before the whole grid."""
    for modality in tuned_modalities(cfg):
        methods = tuned_methods(cfg, modality)
        tests = eval_datasets(cfg, modality)
        if methods and tests:
            seed = cfg.study.seeds[0]
            return [tune_path(cfg, modality, methods[0], seed), eval_path(cfg, tests[0], methods[0], seed),
                    eval_path(cfg, tests[0], BASELINE, cfg.study.seed)]
    raise ConfigError("nothing to smoke-test: no modality has training data, a test split and a method")


def final_targets(cfg: Config) -> list[str]:
    """Everything `snakemake` (rule all) builds for this config."""
    evaluations = eval_targets(cfg)
    targets = prepare_targets(cfg) + sensitivity_targets(cfg) + tune_targets(cfg) + evaluations
    targets += compare_targets(cfg) + retention_targets(cfg)
    if evaluations:
        targets.append(report_path(cfg))
    if any(is_synthetic(cfg, name) for name in READERS):
        targets.append(synth_manifest(cfg))
    return targets


_OWNED_DAG_RUN = "SRTRACK_DAG_RUN_OWNED"


def open_dag_run(cfg: Config) -> None:
    """Snakemake `onstart`: open the invocation's MLflow parent run and export its id to the jobs
    (unless $SRTRACK_PARENT_RUN_ID is set already, e.g. by a wrapper that owns the parent)."""
    import os

    from srtrack.tracking import PARENT_RUN_ENV, start_dag_run

    if not os.environ.get(PARENT_RUN_ENV):
        os.environ[PARENT_RUN_ENV] = start_dag_run(cfg, final_targets(cfg))
        os.environ[_OWNED_DAG_RUN] = "1"


def close_dag_run(cfg: Config, status: str) -> None:
    """Snakemake `onsuccess` / `onerror`: end the parent run this invocation opened."""
    import os

    from srtrack.tracking import PARENT_RUN_ENV, end_dag_run

    if os.environ.get(_OWNED_DAG_RUN):
        end_dag_run(cfg, os.environ[PARENT_RUN_ENV], status)


def dag_summary(cfg: Config) -> str:
    """What `snakemake` prints at the end: headline scores, where the outputs are, how to browse MLflow."""
    from srtrack.tracking import tracking_uri

    lines = [f"srtrack: study {cfg.study.name!r} is complete.", "",
             "Headline scores (first evaluator profile of each benchmark; all of them in metrics.json):"]
    for target in eval_targets(cfg):
        path = Path(target)
        if not path.is_file():
            continue
        profile, scores = next(iter(json.loads(path.read_text(encoding="utf-8"))["profiles"].items()))
        values = "  ".join(f"{k} {v:.3f}" for k, v in scores["summary"].items() if isinstance(v, float))
        lines.append(f"  {path.parents[2].name:<11} {path.parents[1].name:<18} {path.parent.name:<6} "
                     f"{profile:<13} {values}")
    uri = tracking_uri(cfg)
    browse = (f"{sys.executable} -m mlflow ui --backend-store-uri {uri}   (then open http://127.0.0.1:5000)"
              if not uri.startswith("http") else f"open {uri}")
    lines += ["", f"Scores, per-sequence tables, raw results and plots: {cfg.study.output_dir}/eval/<benchmark>/"
                  "<tracker>/seed<k>/",
              f"Every tracker of a benchmark on the same plots:  {cfg.study.output_dir}/eval/<benchmark>/comparison/",
              f"Training curves: {cfg.study.output_dir}/tune/<modality>/<method>/seed<k>/loss.png",
              f"Tables (Markdown, LaTeX, CSV with the MLflow runs behind each number): {report_path(cfg)}",
              "HTML report with every plot and table: snakemake --report report.html",
              f"MLflow store: {uri}", f"Browse the runs: {browse}"]
    return "\n".join(lines)


def write_resolved_config(cfg: Config) -> str:
    """Write the merged, validated config next to the outputs; rewritten only when it changes.

    Rules take this file as their `--config`, so a stage sees exactly what Snakemake validated,
    including `--config key=value` overrides, and a config change makes the file newer.
    """
    path = Path(cfg.study.output_dir) / RESOLVED_CONFIG
    text = "# written by the srtrack workflow from the merged config; do not edit\n" + yaml.safe_dump(
        config_to_dict(cfg), sort_keys=False)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)
    return str(path)


def config_sources(workflow: Any) -> list[Path]:
    """Config files in the order they were merged: the Snakefile's `configfile:`, then --configfile.

    Snakemake lists the command-line files first in `workflow.configfiles` although they are
    applied last; error messages need the real order to name the file that set a key.
    """
    cli = [Path(f) for f in workflow.overwrite_configfiles or ()]
    return [Path(f) for f in workflow.configfiles if Path(f) not in cli] + cli


def wildcard_constraints() -> Mapping[str, Any]:
    """Regexes for the workflow's wildcards."""
    return {"dataset": "|".join(sorted(READERS)), "split": "train|test", "modality": "|".join(MODALITIES),
            "method": "[a-z][a-z0-9_]*", "tracker": "[a-z][a-z0-9_]*", "seed": "[0-9]+", "variant": "[a-z][a-z0-9_]*",
            "retained": f"(?:{'|'.join(MODALITIES)})\\.[a-z][a-z0-9_]*|{BASELINE}"}
