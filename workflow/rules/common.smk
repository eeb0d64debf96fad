# Schema validation, typed config, wildcard constraints and target functions (logic: srtrack/workflow.py).
from pathlib import Path

from snakemake.utils import validate

from srtrack.config import config_from_dict, load_config_dict
from srtrack import workflow as layout
from srtrack.slurm import training_job

# The files once more, as srtrack reads them: aliases that expand without bound ("billion laughs")
# are refused before anything walks the config. Then srtrack's check, which names the file and line of every problem;
# then Snakemake's.
load_config_dict(layout.config_sources(workflow))
CFG = config_from_dict(config, layout.config_sources(workflow))
validate(config, "../schemas/config.schema.yaml")
OUT = str(CFG.study.output_dir)
RESOLVED_CONFIG = layout.write_resolved_config(CFG)
# The checkout's srtrack also when a rule runs in a conda env built from envs/ (see README).
PYENV = f"PYTHONPATH={Path(workflow.basedir).resolve()}${{PYTHONPATH:+:$PYTHONPATH}}"
SRTRACK = f"{PYENV} python -m srtrack"
# Pre-training and tuning: the cluster shape (nodes, GPUs, tasks) and the command that starts one
# process per GPU (torchrun on one node, srun on several); see srtrack/slurm.py.
TRAIN = training_job(CFG)
TRAIN_PYTHON = f"{PYENV} {TRAIN.python()}"


wildcard_constraints:
    **layout.wildcard_constraints(),


def final_outputs():
    return layout.final_targets(CFG)


def prepare_inputs(wildcards):
    return layout.prepare_inputs(CFG, wildcards.dataset)


def prepare_fingerprint(wildcards):
    sections = ["study.seed", f"datasets.{wildcards.dataset}", "encoding", "prepare"]
    if layout.is_synthetic(CFG, wildcards.dataset):
        sections.append("synth")
    return layout.fingerprint(CFG, *sections)


def tune_inputs(wildcards):
    return layout.tune_inputs(CFG, wildcards.modality, wildcards.method)


# One MLflow parent run per DAG invocation (a given $SRTRACK_PARENT_RUN_ID is kept); not in dry runs.
onstart:
    layout.open_dag_run(CFG)


onsuccess:
    layout.close_dag_run(CFG, "FINISHED")
    if layout.eval_targets(CFG):
        print(layout.dag_summary(CFG))


onerror:
    layout.close_dag_run(CFG, "FAILED")
