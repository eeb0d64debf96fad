# Schema validation, typed config, wildcard constraints and target functions (logic: srtrack/workflow.py).
import os
from pathlib import Path

from snakemake.utils import validate

from srtrack.config import config_from_dict
from srtrack import workflow as layout

# srtrack's own check first: it names the file and line of every problem; then Snakemake's.
CFG = config_from_dict(config, layout.config_sources(workflow))
validate(config, "../schemas/config.schema.yaml")
OUT = str(CFG.study.output_dir)
RESOLVED_CONFIG = layout.write_resolved_config(CFG)
# The checkout's srtrack also when a rule runs in a conda env built from envs/ (see README).
SRTRACK = f"PYTHONPATH={Path(workflow.basedir).resolve()}${{PYTHONPATH:+:$PYTHONPATH}} python -m srtrack"


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
    from srtrack.tracking import PARENT_RUN_ENV, start_dag_run

    if not os.environ.get(PARENT_RUN_ENV):
        os.environ[PARENT_RUN_ENV] = start_dag_run(CFG, layout.final_targets(CFG))
        os.environ["SRTRACK_DAG_RUN_OWNED"] = "1"


onsuccess:
    from srtrack.tracking import PARENT_RUN_ENV, end_dag_run

    if os.environ.get("SRTRACK_DAG_RUN_OWNED"):
        end_dag_run(CFG, os.environ[PARENT_RUN_ENV], "FINISHED")


onerror:
    from srtrack.tracking import PARENT_RUN_ENV, end_dag_run

    if os.environ.get("SRTRACK_DAG_RUN_OWNED"):
        end_dag_run(CFG, os.environ[PARENT_RUN_ENV], "FAILED")
