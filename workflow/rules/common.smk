# Schema validation, typed config, wildcard constraints and target functions (logic: srtrack/workflow.py).
from pathlib import Path

from snakemake.utils import validate

from srtrack.config import config_from_dict, load_config_dict
from srtrack import layout
from srtrack import workflow as dag
from srtrack.plan import print_plan
from srtrack.slurm import rule_resources, training_job
from srtrack.study import Study

# The files once more, as srtrack reads them: aliases that expand without bound ("billion laughs")
# are refused before anything walks the config. Then srtrack's check, which names the file and line of every problem;
# then Snakemake's; then the site's pre-flight (srtrack/preflight.py). Each ends snakemake with exit 2
# and its message, before any job is queued.
dag.exit_on_config_error(lambda: load_config_dict(dag.config_sources(workflow)))
CFG = dag.exit_on_config_error(
    lambda: config_from_dict(config, dag.config_sources(workflow))
)
validate(config, "../schemas/config.schema.yaml")
dag.check_site(CFG, workflow)
OUT = str(CFG.study.output_dir)
STUDY = Study(CFG)
# written when the run starts (onstart), never by a dry run: running jobs read it
RESOLVED_CONFIG = layout.resolved_config(OUT)
# Every job runs the checkout's srtrack, also in a conda env built from envs/ (see README): a prefix of
# every command rather than a rule parameter, so that a moved or re-cloned checkout reruns nothing.
shell.prefix(dag.checkout_pythonpath(workflow.basedir))
# Every rule's command starts `python -m srtrack.job_usage {log.usage}`: the job's usage record,
# written when it ends (its docstring says why not Snakemake's `benchmark:`). Written out in each
# rule: as a parameter it would be listed in every item of `snakemake --report`, and the linter flags
# a global variable in a command (tests/test_packaging.py checks every rule).
# Pre-training and tuning: the cluster shape (nodes, GPUs, tasks) and the command that starts one
# process per GPU (torchrun on one node, srun on several); see srtrack/slurm.py.
TRAIN = training_job(CFG)
TRAIN_LAUNCHER = TRAIN.python()
# Every rule's Slurm resources (partition, account, QoS, GPUs, memory, time) come from
# srtrack.slurm.rule_resources, which `python -m srtrack.plan` lists too.


wildcard_constraints:
    **dag.wildcard_constraints(),


def final_outputs():
    return dag.final_targets(CFG)


def prepare_inputs(wildcards):
    return dag.prepare_inputs(CFG, wildcards.dataset)


def prepare_fingerprint(wildcards):
    sections = ["study.seed", f"datasets.{wildcards.dataset}", "encoding", "prepare"]
    if STUDY.is_synthetic(wildcards.dataset):
        sections.append("synth")
    return dag.fingerprint(CFG, *sections)


def tune_inputs(wildcards):
    return dag.tune_inputs(CFG, wildcards.modality, wildcards.label)


# One MLflow parent run per DAG invocation (a given $SRTRACK_PARENT_RUN_ID is kept); not in dry runs.
onstart:
    dag.check_executor(CFG, workflow)
    dag.write_resolved_config(CFG)
    dag.exit_on_config_error(lambda: print_plan(CFG))
    dag.exit_on_config_error(lambda: dag.open_dag_run(CFG))


onsuccess:
    dag.close_dag_run(CFG, "FINISHED")
    if dag.eval_targets(CFG):
        print(dag.dag_summary(CFG))


onerror:
    dag.close_dag_run(CFG, "FAILED")
