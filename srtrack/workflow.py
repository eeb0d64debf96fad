"""The Snakemake glue: the DAG's targets, the rules' input functions and the DAG's MLflow parent run.

The study grid comes from srtrack.study and every path from srtrack.layout; this module only
turns them into the lists and strings Snakemake asks for. Imported by workflow/rules/common.smk,
kept here so that it is importable and unit-tested.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from srtrack import layout
from srtrack.config import Config, config_to_dict, section
from srtrack.datasets import READERS
from srtrack.errors import EXIT_CONFIG_ERROR, ConfigError
from srtrack.io import json_sha256, write_text_atomic
from srtrack.mlflow_server import ML_VIEW
from srtrack.study import BASELINE, MODALITIES, Study, retained_name
from srtrack.synth.benchmarks import BENCHMARKS as SYNTHETIC

# Snakemake job priorities (higher first when more jobs are ready than cores), so that a small machine's
# cores stay busy to the end: the data and the prior that later jobs wait on; then scoring the untuned
# trackers, which waits for no tuning (after tuning, where the tuned trackers' jobs start together, one
# would be left alone on the cores at the end); then tuning; the tuned trackers' scoring last.
PRIORITY = {"data": 10, "prior": 10, "untuned_scoring": 6, "tuning": 5, "tuned_scoring": 0}


def score_priority(label: str) -> int:
    """The priority of one `evaluate_<modality>` job (see PRIORITY)."""
    return PRIORITY["untuned_scoring" if label == BASELINE else "tuned_scoring"]


# what a tracking result depends on (evaluate.retention only selects which runs exist)
EVALUATE_SECTIONS = ("model", "evaluate.batch", "evaluate.workers", "evaluate.profiles", "evaluate.precision",
                     "sampler", "encoding")


def fingerprint(cfg: Config, *sections: str) -> str:
    """A short hash of the config sections a stage depends on (dotted names).

    Rules get it as a param, so Snakemake's params trigger reruns a stage when one of its sections
    changes, and only then: the resolved config file is passed as a param, not an input, because
    its modification time changes with every section.
    """
    data = config_to_dict(cfg)
    picked = {dotted: section(data, dotted) for dotted in sections}
    return json_sha256(picked)[:16]


def out(cfg: Config) -> Path:
    return cfg.study.output_dir


# --- data ---------------------------------------------------------------------------------------
def prepare_targets(cfg: Config) -> list[str]:
    """Index files of every benchmark split whose root is configured."""
    return [layout.index_path(out(cfg), name, split) for name, reader in sorted(READERS.items())
            if getattr(cfg.datasets, name).root is not None for split in reader.splits]


def study_data_targets(cfg: Config) -> list[str]:
    """Index files of the benchmark splits the study reads (`snakemake data` prepares every configured one)."""
    return [layout.index_path(out(cfg), name, split) for name, split in Study(cfg).used_splits()]


def synth_manifest(cfg: Config, dataset: str) -> str:
    """The file that marks one synthetic benchmark as written (`dataset` is `{synthetic}` in the synth rule)."""
    return layout.synth_manifest(cfg.synth.root, dataset)


def prepare_inputs(cfg: Config, dataset: str) -> dict[str, str]:
    """Inputs of `prepare` for one benchmark: its synth manifest where the data is synthetic."""
    return {"synth": synth_manifest(cfg, dataset)} if Study(cfg).is_synthetic(dataset) else {}


# --- pre-training and the prior -----------------------------------------------------------------
def pretrain_path(cfg: Config) -> str:
    """The synthetic default's RGB pre-training result."""
    return f"{layout.pretrain_dir(out(cfg))}/{layout.MODEL_FILE}"


def pretrained_checkpoint(cfg: Config) -> str:
    """The tracker every tuning run starts from: model.pretrained, else the pre-training stage's."""
    return str(cfg.model.pretrained) if cfg.model.pretrained is not None else pretrain_path(cfg)


def prior_path(cfg: Config, variant: str | None = None) -> str:
    return layout.prior_path(out(cfg), cfg.sensitivity.dataset, variant)


def sensitivity_targets(cfg: Config) -> list[str]:
    """The prior artifact, when the RGB data and a pretrained tracker (given or pre-trained) exist."""
    return [prior_path(cfg)] if Study(cfg).has_rgb_data() else []


# --- tuning -------------------------------------------------------------------------------------
def tune_path(cfg: Config, modality: str, label: str, seed: int | str) -> str:
    """The tuned tracker of one (modality, label, seed)."""
    return f"{layout.tune_dir(out(cfg), modality, label, seed)}/{layout.MODEL_FILE}"


def scored_tune_path(cfg: Config, modality: str, label: str, seed: int | str) -> str:
    """The tuned weights that are scored: those after epoch `evaluate.epoch` where it is set, else the final ones."""
    if cfg.evaluate.epoch is None:
        return tune_path(cfg, modality, label, seed)
    return f"{layout.tune_dir(out(cfg), modality, label, seed)}/{layout.epoch_model_file(cfg.evaluate.epoch)}"


def tune_outputs(cfg: Config) -> dict[str, str]:
    """The files of one tuning run that other rules read (`{modality}`, `{label}`, `{seed}` left to Snakemake)."""
    files = {"model": tune_path(cfg, "{modality}", "{label}", "{seed}")}
    if cfg.evaluate.epoch is not None:
        files["scored"] = scored_tune_path(cfg, "{modality}", "{label}", "{seed}")
    return files


def tune_inputs(cfg: Config, modality: str, label: str) -> dict[str, Any]:
    """Inputs of one tuning run: its train indexes, the starting tracker, and the prior if the method uses it."""
    study = Study(cfg)
    resolved = study.label(label)
    inputs: dict[str, Any] = {"indexes": [layout.index_path(out(cfg), name, "train")
                                          for name in study.tune_datasets(modality)],
                              "init": pretrained_checkpoint(cfg)}
    if resolved.uses_prior:
        inputs["prior"] = prior_path(cfg, resolved.prior_variant)
    return inputs


def tune_targets(cfg: Config) -> list[str]:
    """One tuned tracker per (tuned modality, label, seed)."""
    return [tune_path(cfg, r.modality, r.label.name, r.seed) for r in Study(cfg).tuning_runs()]


# --- evaluation ---------------------------------------------------------------------------------
def eval_path(cfg: Config, dataset: str, label: str, seed: int | str) -> str:
    """Scores of one tracker (a tuned label of one seed, or the baseline) on a benchmark's test split."""
    return f"{layout.eval_dir(out(cfg), dataset, label, seed)}/{layout.METRICS_FILE}"


def eval_name(cfg: Config, label: str, seed: int | str) -> str:
    """The tracker's name in plots and tables."""
    study = Study(cfg)
    return study.display_name(study.label(label), int(seed))


def eval_targets(cfg: Config, dataset: str | None = None) -> list[str]:
    """The scores of every evaluation run of the study (of one benchmark's, with `dataset`)."""
    return [eval_path(cfg, r.dataset, r.label.name, r.seed) for r in Study(cfg).evaluation_runs()
            if dataset is None or r.dataset == dataset]


def compare_path(cfg: Config, dataset: str) -> str:
    return layout.compare_dir(out(cfg), dataset)


def compare_inputs(cfg: Config, dataset: str) -> list[str]:
    """The scores a benchmark's comparison draws."""
    return eval_targets(cfg, dataset)


def compare_targets(cfg: Config) -> list[str]:
    """Each benchmark's comparison, and the retention comparison when trackers are scored on RGB data."""
    datasets = dict.fromkeys(r.dataset for r in Study(cfg).evaluation_runs())
    retained = [retention_compare_path(cfg)] if retention_targets(cfg) else []
    return [compare_path(cfg, name) for name in sorted(datasets)] + retained


def retention_compare_path(cfg: Config) -> str:
    return layout.retention_compare_dir(out(cfg))


# --- retention ----------------------------------------------------------------------------------
def retention_path(cfg: Config, retained: str, seed: int | str) -> str:
    return f"{layout.retention_dir(out(cfg), retained, seed)}/{layout.METRICS_FILE}"


def retention_targets(cfg: Config) -> list[str]:
    """Every tuned tracker (modality, label, seed) and the baseline, scored on RGB data."""
    return [retention_path(cfg, r.retained, r.seed) for r in Study(cfg).retention_runs()]


# --- scoring: one job per tracker for its modality's test splits and its RGB retention --------------
def score_outputs(cfg: Config, modality: str) -> dict[str, str]:
    """What one `evaluate_<modality>` job writes, with `{label}` and `{seed}` left to Snakemake: each test
    benchmark's scores and per-sequence table, and what the tracker retains on the RGB split."""
    study, files = Study(cfg), {}
    for name in study.eval_datasets(modality):
        files[f"{name}_metrics"] = eval_path(cfg, name, "{label}", "{seed}")
        files[f"{name}_table"] = f"{layout.eval_dir(out(cfg), name, '{label}', '{seed}')}/{layout.TABLE_FILE}"
    if study.retention_split():
        files["retained"] = retention_path(cfg, retained_name(modality, "{label}"), "{seed}")
    return files


def score_indexes(cfg: Config, modality: str) -> list[str]:
    """The split indexes an `evaluate_<modality>` job reads: the test benchmarks, then the RGB split."""
    study = Study(cfg)
    splits = [(name, "test") for name in study.eval_datasets(modality)]
    if retention := study.retention_split():
        splits.append(retention)
    return [layout.index_path(out(cfg), *split) for split in splits]


def score_checkpoint(cfg: Config, modality: str, label: str, seed: int | str) -> str:
    """The weights scored: the pretrained tracker for the baseline, else the tuned one (`scored_tune_path`)."""
    return pretrained_checkpoint(cfg) if label == BASELINE else scored_tune_path(cfg, modality, label, seed)


def score_arguments(cfg: Config, modality: str, label: str, seed: int | str) -> str:
    """The evaluate CLI's options of one tracker's job: its name, every test split with its output
    folder, and the RGB split it retains (srtrack/evaluate.py)."""
    study = Study(cfg)
    words = ["--label", label, "--name", eval_name(cfg, label, seed)]
    for name in study.eval_datasets(modality):
        words += ["--data", layout.data_dir(out(cfg), name, "test"), "--out", layout.eval_dir(out(cfg), name, label, seed)]
    if study.retention_split():
        words += ["--retain", layout.data_dir(out(cfg), *study.retention_split()),
                  layout.retention_dir(out(cfg), retained_name(modality, label), seed), "--tuned-on", modality,
                  "--retain-sequences", str(cfg.evaluate.retention.sequences)]
    return " ".join(words)


def score_labels(cfg: Config, modality: str) -> str:
    """The `{label}` wildcard of an `evaluate_<modality>` job: the modality's labels and the baseline."""
    return "|".join([*Study(cfg).label_names(modality), BASELINE])


# --- report and targets -------------------------------------------------------------------------
def report_plots(cfg: Config, caption: str) -> dict[str, Any]:
    """The report's figures as rule outputs, flagged for `snakemake --report` with `caption`."""
    from snakemake.io import report

    if not retention_targets(cfg):
        return {}
    folder = layout.report_dir(out(cfg))
    # the scatter has a point only for labels no sweep made (a sweep-only study has trade-off curves only)
    files = {"plasticity": f"{folder}/{layout.PLASTICITY_PLOT}"} if Study(cfg).plasticity_modalities() else {}
    files |= {f"tradeoff_{sweep}_{modality}": f"{folder}/{layout.tradeoff_plot(sweep, modality)}"
              for sweep, modality in Study(cfg).sweep_modalities()}
    return {name: report(path, caption=caption, category="Tables") for name, path in files.items()}


def report_path(cfg: Config) -> str:
    """The study's tables (python -m srtrack.report)."""
    return f"{layout.report_dir(out(cfg))}/{layout.TABLES_FILE}"


def smoke_targets(cfg: Config) -> list[str]:
    """`snakemake smoke`: one pass through every stage (the first modality, label and seed, and the
    baseline) to check a config or a cluster before the whole grid."""
    runs = list(Study(cfg).evaluation_runs())
    if not runs:
        raise ConfigError("nothing to smoke-test: no modality has training data, a test split and a method")
    first = runs[0]
    baseline = next(r for r in runs if r.dataset == first.dataset and r.label.is_baseline)
    return [tune_path(cfg, first.modality, first.label.name, first.seed), eval_path(cfg, first.dataset, first.label.name,
                                                                                    first.seed),
            eval_path(cfg, baseline.dataset, BASELINE, baseline.seed)]


def final_targets(cfg: Config) -> list[str]:
    """Everything `snakemake` (rule all) builds for this config."""
    evaluations = eval_targets(cfg)
    targets = study_data_targets(cfg) + sensitivity_targets(cfg) + tune_targets(cfg) + evaluations
    targets += compare_targets(cfg) + retention_targets(cfg)
    if evaluations:
        targets.append(report_path(cfg))
    return targets


_OWNED_DAG_RUN = "SRTRACK_DAG_RUN_OWNED"


def open_dag_run(cfg: Config) -> None:
    """Snakemake `onstart`: name this invocation for its jobs (srtrack.job_usage: a retry never repeats
    a configuration error), open its MLflow parent run and export its id to the jobs (unless
    $SRTRACK_PARENT_RUN_ID is set already, e.g. by a wrapper that owns the parent)."""
    import os
    import uuid

    from srtrack.job_usage import INVOCATION_ENV
    from srtrack.mlflow_runs import PARENT_RUN_ENV, start_dag_run

    os.environ[INVOCATION_ENV] = uuid.uuid4().hex

    if not os.environ.get(PARENT_RUN_ENV):
        os.environ[PARENT_RUN_ENV] = start_dag_run(cfg, final_targets(cfg))
        os.environ[_OWNED_DAG_RUN] = "1"


def close_dag_run(cfg: Config, status: str) -> None:
    """Snakemake `onsuccess` / `onerror`: end the parent run this invocation opened."""
    import os

    from srtrack.mlflow_runs import PARENT_RUN_ENV, end_dag_run

    if os.environ.get(_OWNED_DAG_RUN):
        end_dag_run(cfg, os.environ[PARENT_RUN_ENV], status)


LOCAL_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves a local store


def dag_summary(cfg: Config) -> str:
    """What `snakemake` prints at the end: headline scores, where the outputs are, how to browse MLflow."""
    from srtrack.mlflow_runs import tracking_uri

    lines = [f"srtrack: study {cfg.study.name!r} is complete.", "",
             "Headline scores (first evaluator profile of each benchmark; all of them in metrics.json):"]
    for run in Study(cfg).evaluation_runs():
        path = Path(eval_path(cfg, run.dataset, run.label.name, run.seed))
        if not path.is_file():
            continue
        profile, scores = next(iter(json.loads(path.read_text(encoding="utf-8"))["profiles"].items()))
        values = "  ".join(f"{k} {v:.3f}" for k, v in scores["summary"].items() if isinstance(v, float))
        lines.append(f"  {run.dataset:<11} {run.label.name:<18} {'seed' + str(run.seed):<6} {profile:<13} {values}")
    uri = tracking_uri(cfg)
    base = uri.rstrip("/") if uri.startswith("http") else LOCAL_UI
    # MLflow's UI shows its GenAI pages unless the link asks for the model-training ones
    browse = (f"{sys.executable} -m mlflow ui --backend-store-uri {uri}   (then open "
              f"{base}/#/experiments?{ML_VIEW})" if not uri.startswith("http") else f"open {base}/#/experiments?{ML_VIEW}")
    lines += ["", f"Scores, per-sequence tables, raw results and plots: "
                  f"{layout.eval_dir(out(cfg), '<benchmark>', '<label>', '<k>')}/",
              f"Every tracker of a benchmark on the same plots:  {compare_path(cfg, '<benchmark>')}/",
              f"Training curves: {layout.tune_dir(out(cfg), '<modality>', '<label>', '<k>')}/{layout.LOSS_PLOT}",
              f"Tables (Markdown, LaTeX, CSV with the MLflow runs behind each number): {report_path(cfg)}",
              "HTML report with every plot and table: snakemake --report report.html",
              f"MLflow store: {uri}", f"Browse the runs: {browse}"]
    return "\n".join(lines + filtered_pages(cfg, base))


def filtered_pages(cfg: Config, base: str) -> list[str]:
    """Links to the UI's runs table already filtered to this study's tuning runs and to each
    benchmark's evaluations (none when the store does not answer)."""
    from srtrack.mlflow_runs import find_experiment_id, runs_page

    experiment = find_experiment_id(cfg)
    if experiment is None:
        return []
    study = f"tags.study = '{cfg.study.name}'"
    tuning = f"{study} and tags.stage = 'tune'"
    lines = ["The runs table, filtered (the UI nests each invocation's runs under its DAG run: expand it):",
             f"  tuning runs: {runs_page(base, experiment, tuning)}"]
    for dataset in dict.fromkeys(r.dataset for r in Study(cfg).evaluation_runs()):
        search = f"{study} and tags.stage = 'evaluate' and tags.dataset = '{dataset}'"
        lines.append(f"  evaluations on {dataset}: {runs_page(base, experiment, search)}")
    return lines


def write_resolved_config(cfg: Config) -> str:
    """Write the merged, validated config next to the outputs (Snakemake `onstart`: never in a dry
    run, which must not change the file that running jobs read); rewritten only when it changes.

    Rules take this file as their `--config`, so a stage sees exactly what Snakemake validated,
    including `--config key=value` overrides.
    """
    path = Path(layout.resolved_config(out(cfg)))
    text = "# written by the srtrack workflow from the merged config; do not edit\n" + yaml.safe_dump(
        config_to_dict(cfg), sort_keys=False)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)
    return str(path)


def exit_on_config_error(step: Callable[[], Any]) -> Any:
    """Run a step of the Snakefile's set-up; a ConfigError ends snakemake with the message alone and
    exit 2, as every srtrack CLI does, instead of a traceback, before any job is queued."""
    try:
        return step()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)


def check_site(cfg: Config, workflow: Any) -> None:
    """The pre-flight (srtrack/preflight.py) in snakemake's own process: every run and dry run, not
    the jobs (they parse the Snakefile again on their nodes)."""
    from srtrack import preflight

    if workflow.is_main_process:
        exit_on_config_error(lambda: preflight.check(cfg))


def check_executor(cfg: Config, workflow: Any) -> None:
    """Snakemake `onstart`: what depends on where the jobs run (a cluster needs a tracking server)."""
    from srtrack import preflight

    if on_cluster(workflow):
        exit_on_config_error(lambda: preflight.check_tracking(cfg))


def checkout_pythonpath(basedir: str) -> str:
    """The shell prefix that puts the checkout holding the Snakefile first on every job's PYTHONPATH
    (Snakemake formats a prefix as it formats commands: literal braces are doubled)."""
    checkout = shlex.quote(str(Path(basedir).resolve())).replace("{", "{{").replace("}", "}}")
    return f"export PYTHONPATH={checkout}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "


def on_cluster(workflow: Any) -> bool:
    """Snakemake submits the jobs to a cluster (not a local run, a dry run, --touch, or a job running
    on its node)."""
    plugin = getattr(workflow, "executor_plugin", None)
    return getattr(plugin, "name", "local") not in ("local", "dryrun", "touch", "slurm-jobstep")


def config_sources(workflow: Any) -> list[Path]:
    """Config files in the order they were merged: the Snakefile's `configfile:`, then --configfile.

    Snakemake lists the command-line files first in `workflow.configfiles` although they are
    applied last; error messages need the real order to name the file that set a key.
    """
    cli = [Path(f) for f in workflow.overwrite_configfiles or ()]
    return [Path(f) for f in workflow.configfiles if Path(f) not in cli] + cli


def wildcard_constraints() -> Mapping[str, Any]:
    """Regexes for the workflow's wildcards."""
    return {"dataset": "|".join(sorted(READERS)), "synthetic": "|".join(b.name for b in SYNTHETIC),
            "split": "train|test", "modality": "|".join(MODALITIES),
            "label": "[a-z][a-z0-9_]*", "seed": "[0-9]+", "variant": "[a-z][a-z0-9_]*"}
