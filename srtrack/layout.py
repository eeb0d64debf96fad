"""Where every output lives: the one place that spells a path pattern or an output file name.

The Snakemake rules format their inputs and outputs from these functions (with `{wildcard}`
strings for the parts Snakemake fills in) and the stage CLIs import their file names from here.
`out` is `study.output_dir`. Torch-free.
"""

from __future__ import annotations

from pathlib import Path

# file names inside a stage's output folder
INDEX_FILE, SEQUENCES_FILE, STATS_PLOT = "index.json", "sequences.csv", "stats.png"   # prepare
PRIOR_FILE, SUMMARY_FILE, FISHER_PLOT = "prior.safetensors", "summary.json", "fisher_heatmap.png"  # sensitivity
MODEL_FILE, METRICS_FILE, LOSS_PLOT = "model.pth", "metrics.json", "loss.png"  # tune (metrics.json: evaluate too)
TRAIN_LOG, LOAD_REPORT_FILE, RUN_ID_FILE = "train.log", "load_report.json", "mlflow_run_id"  # tune, sensitivity
TABLE_FILE = "per_sequence.csv"  # evaluate
PLAN_FILE = "plan.md"  # the DAG's plan (srtrack.plan), in the study's output folder
TABLES_FILE, CELLS_FILE, PLASTICITY_PLOT = "tables.md", "tables.csv", "plasticity_stability.png"  # report
TABLES_HTML = "tables.html"  # report: the tables as `snakemake --report` shows them (it renders HTML, not Markdown)
MANIFEST_FILE, PREVIEW_PLOT = "manifest.json", "preview.png"  # synth
RESOLVED_CONFIG = "config.resolved.yaml"
MLFLOW_ARTIFACTS_DIR = "mlartifacts"  # a SQLite MLflow store's artifacts, beside the database file


# a training run's resumable state, inside its output folder
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = f"{CHECKPOINTS_DIR}/last.pt"


def epoch_model_file(epoch: int) -> str:
    """A tuned tracker's weights after `epoch` (evaluate.epoch), beside its final model.pth (and under
    CHECKPOINTS_DIR until the run's results are published)."""
    return f"model-epoch{epoch}.pth"


def frames_plot(benchmark: str) -> str:
    """A comparison's qualitative frames (file name)."""
    return f"frames_{benchmark}.png"


def sequence_plot(benchmark: str, tuned_on: str | None = None) -> str:
    """The report's per-sequence heat map of one benchmark column (file name)."""
    return f"sequences_{benchmark}" + (f"_{tuned_on}" if tuned_on else "") + ".png"


def tradeoff_plot(sweep: str, modality: str) -> str:
    """The report's trade-off curves of one study.sweeps entry on one modality (file name)."""
    return f"tradeoff_{sweep}_{modality}.png"


def synth_dir(root: Path | str, benchmark: str) -> str:
    """A synthetic benchmark under `synth.root`: a folder named after the reader that reads it."""
    return f"{root}/{benchmark}"


def synth_manifest(root: Path | str, benchmark: str) -> str:
    """What one synthetic benchmark holds; it appears with the benchmark's folder, when that is complete."""
    return f"{synth_dir(root, benchmark)}/{MANIFEST_FILE}"


def synth_preview(out: Path | str, benchmark: str) -> str:
    """The contact sheet of one synthetic benchmark (synth --preview)."""
    return f"{out}/synth/{benchmark}/{PREVIEW_PLOT}"


def data_dir(out: Path | str, dataset: str, split: str) -> str:
    """The prepared split of one benchmark (prepare's --out)."""
    return f"{out}/data/{dataset}-{split}"


def index_path(out: Path | str, dataset: str, split: str) -> str:
    return f"{data_dir(out, dataset, split)}/{INDEX_FILE}"


def prior_dir(out: Path | str, dataset: str, variant: str | None = None) -> str:
    """The prior of the pretrained tracker on `dataset`; a variant that sweeps the prior's own
    settings (N, rank) gets its own subfolder."""
    return f"{out}/prior/{dataset}" + (f"/{variant}" if variant else "")


def prior_path(out: Path | str, dataset: str, variant: str | None = None) -> str:
    return f"{prior_dir(out, dataset, variant)}/{PRIOR_FILE}"


def pretrain_dir(out: Path | str) -> str:
    """The RGB pre-training run of the synthetic default."""
    return f"{out}/pretrain"


def tune_dir(out: Path | str, modality: str, label: str, seed: int | str) -> str:
    return f"{out}/tune/{modality}/{label}/seed{seed}"


def eval_dir(out: Path | str, dataset: str, label: str, seed: int | str) -> str:
    return f"{out}/eval/{dataset}/{label}/seed{seed}"


def compare_dir(out: Path | str, dataset: str) -> str:
    """Every tracker of one benchmark on the same plots."""
    return f"{out}/eval/{dataset}/comparison"


def retention_dir(out: Path | str, retained: str, seed: int | str) -> str:
    """Scores on RGB data of `<modality>.<label>` (a tuned tracker) or of the baseline."""
    return f"{out}/retention/{retained}/seed{seed}"


def retention_compare_dir(out: Path | str) -> str:
    """Every tracker's scores on the RGB split on the same plots: what each retains."""
    return f"{out}/retention/comparison"


def report_dir(out: Path | str) -> str:
    return f"{out}/report"


def log_path(out: Path | str, stage: str, name: str) -> str:
    """A rule's log file (the job's stdout and stderr)."""
    return f"{out}/logs/{stage}/{name}.log"


def usage_path(out: Path | str, stage: str, name: str) -> str:
    """A job's usage record (wall time, peak memory, CPU time; srtrack.job_usage)."""
    return f"{out}/benchmarks/{stage}/{name}.tsv"


def job_logs(out: Path | str, stage: str, name: str) -> dict[str, str]:
    """A rule's `log:` files: `out` (stdout and stderr) and `usage` (the usage record)."""
    return {"out": log_path(out, stage, name), "usage": usage_path(out, stage, name)}


def mlflow_spool(out: Path | str) -> str:
    """MLflow writes a stage could not send while the tracking server was away; the next stage sends them."""
    return f"{out}/mlflow-spool"


def resolved_config(out: Path | str) -> str:
    """The merged, validated config the DAG's jobs read."""
    return f"{out}/{RESOLVED_CONFIG}"
