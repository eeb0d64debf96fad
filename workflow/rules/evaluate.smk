# Score every tracker of a tuned modality (a label and seed, or the untuned tracker) in one job: the
# modality's test splits and, with evaluate.retention on, the RGB split (what it retains). One rule per
# modality, because its outputs name the modality's benchmarks; one process pays the imports (~9 s on
# 2 cores) once for all of a tracker's splits.
for _modality in STUDY.scored_modalities():

    rule:
        name:
            f"evaluate_{_modality}"
        input:
            indexes=dag.score_indexes(CFG, _modality),
            checkpoint=lambda wildcards, modality=_modality: dag.score_checkpoint(
                CFG, modality, wildcards.label, wildcards.seed
            ),
        output:
            **dag.score_outputs(CFG, _modality),
        log:
            **layout.job_logs(OUT, "evaluate", f"{_modality}.{{label}}-seed{{seed}}"),
        wildcard_constraints:
            label=dag.score_labels(CFG, _modality),
        priority: lambda wildcards: dag.score_priority(wildcards.label)
        conda:
            "../../envs/eval.yaml"
        threads: CFG.resources.cpus_per_task * CFG.evaluate.workers
        resources:
            **rule_resources(
                CFG, "evaluate", splits=len(dag.score_indexes(CFG, _modality))
            ),
        params:
            config=RESOLVED_CONFIG,
            fingerprint=dag.fingerprint(
                CFG, *dag.EVALUATE_SECTIONS, "evaluate.retention"
            ),
            splits=lambda wildcards, modality=_modality: dag.score_arguments(
                CFG, modality, wildcards.label, wildcards.seed
            ),
        shell:
            "python -m srtrack.job_usage {log.usage} python -m srtrack.evaluate --config {params.config} --checkpoint {input.checkpoint} "
            "{params.splits} --set study.seed={wildcards.seed} > {log.out} 2>&1"


# Every evaluated tracker of one benchmark on the same axes.
rule compare:
    input:
        lambda wildcards: dag.compare_inputs(CFG, wildcards.dataset),
    output:
        report(
            directory(dag.compare_path(CFG, "{dataset}")),
            patterns=["{name}.png"],
            caption="../report/compare.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
    log:
        **layout.job_logs(OUT, "compare", "{dataset}"),
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        **rule_resources(CFG, "compare"),
    params:
        config=RESOLVED_CONFIG,
    shell:
        "python -m srtrack.job_usage {log.usage} python -m srtrack.compare {input} --out {output} --config {params.config} > {log.out} 2>&1"


# Every tracker scored on the RGB split on the same axes: what each retains.
use rule compare as compare_retention with:
    input:
        dag.retention_targets(CFG),
    output:
        report(
            directory(dag.retention_compare_path(CFG)),
            patterns=["{name}.png"],
            caption="../report/retention.rst",
            category="Evaluation",
            subcategory="retention",
        ),
    log:
        **layout.job_logs(OUT, "compare", "retention"),


# What the RGB tracker itself scores on the RGB split: the reference line of retention.
if STUDY.retention_split():

    rule retention:
        input:
            index=layout.index_path(OUT, *STUDY.retention_split()),
            checkpoint=dag.pretrained_checkpoint(CFG),
        output:
            metrics=dag.retention_path(CFG, dag.BASELINE, "{seed}"),
        log:
            **layout.job_logs(OUT, "retention", f"{dag.BASELINE}-seed{{seed}}"),
        priority: dag.PRIORITY["untuned_scoring"]
        conda:
            "../../envs/eval.yaml"
        threads: CFG.resources.cpus_per_task * CFG.evaluate.workers
        resources:
            **rule_resources(CFG, "retention"),
        params:
            config=RESOLVED_CONFIG,
            fingerprint=dag.fingerprint(
                CFG, *dag.EVALUATE_SECTIONS, "evaluate.retention"
            ),
            sequences=CFG.evaluate.retention.sequences,
            label=dag.BASELINE,
        shell:
            "python -m srtrack.job_usage {log.usage} python -m srtrack.evaluate --config {params.config} --data $(dirname {input.index}) "
            "--checkpoint {input.checkpoint} --label {params.label} --name {params.label} "
            "--max-sequences {params.sequences} --set study.seed={wildcards.seed} --out $(dirname {output.metrics}) > {log.out} 2>&1"
