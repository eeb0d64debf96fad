# srtrack: sensitivity-aware regularized tuning of multi-modal trackers, as one Snakemake DAG.
# Local:   snakemake --cores 2
# Cluster: snakemake --profile <slurm profile>
# Stages are the `python -m srtrack.<stage>` CLIs; rules only wire files together.
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),


# `snakemake smoke`: one pass through every stage (first modality, method and seed, and the baseline)
rule smoke:
    input:
        dag.smoke_targets(CFG),


# `snakemake data`: only synthesise and prepare the benchmarks
rule data:
    input:
        dag.prepare_targets(CFG),
