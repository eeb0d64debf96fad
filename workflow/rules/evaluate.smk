# Track a benchmark's test split with one tracker (a tuned method or the pretrained baseline) and score it.
rule evaluate:
    input:
        index=layout.index_path(OUT, "{dataset}", "test"),
        checkpoint=lambda wildcards: dag.eval_checkpoint(
            CFG, wildcards.dataset, wildcards.label, wildcards.seed
        ),
    output:
        metrics=dag.eval_path(CFG, "{dataset}", "{label}", "{seed}"),
        table=f"{layout.eval_dir(OUT, '{dataset}', '{label}', '{seed}')}/{layout.TABLE_FILE}",
    log:
        layout.log_path(OUT, "evaluate", "{dataset}-{label}-seed{seed}"),
    benchmark:
        layout.benchmark_path(OUT, "evaluate", "{dataset}-{label}-seed{seed}")
    conda:
        "../../envs/eval.yaml"
    threads: CFG.resources.cpus_per_task * CFG.evaluate.workers
    resources:
        **EVAL_RESOURCES,
        runtime=60,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=dag.fingerprint(CFG, *dag.EVALUATE_SECTIONS),
        name=lambda wildcards: dag.eval_name(CFG, wildcards.label, wildcards.seed),
    shell:
        "{params.srtrack}.evaluate --config {params.config} --data $(dirname {input.index}) "
        "--checkpoint {input.checkpoint} --name {params.name} "
        "--label {wildcards.label} --set study.seed={wildcards.seed} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"


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
        layout.log_path(OUT, "compare", "{dataset}"),
    benchmark:
        layout.benchmark_path(OUT, "compare", "{dataset}")
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        srtrack=SRTRACK,
    shell:
        "{params.srtrack}.compare {input} --out {output} > {log} 2>&1"


# What a tuned tracker (or the baseline) keeps of RGB tracking: scored on an RGB benchmark.
if STUDY.retention_split():

    rule retention:
        input:
            index=layout.index_path(OUT, *STUDY.retention_split()),
            checkpoint=lambda wildcards: dag.retention_checkpoint(
                CFG, wildcards.retained, wildcards.seed
            ),
        output:
            metrics=dag.retention_path(CFG, "{retained}", "{seed}"),
        log:
            layout.log_path(OUT, "retention", "{retained}-seed{seed}"),
        benchmark:
            layout.benchmark_path(OUT, "retention", "{retained}-seed{seed}")
        conda:
            "../../envs/eval.yaml"
        threads: CFG.resources.cpus_per_task * CFG.evaluate.workers
        resources:
            **EVAL_RESOURCES,
            runtime=60,
        params:
            srtrack=SRTRACK,
            config=RESOLVED_CONFIG,
            fingerprint=dag.fingerprint(
                CFG, *dag.EVALUATE_SECTIONS, "evaluate.retention"
            ),
            options=lambda wildcards: dag.retention_options(wildcards.retained),
            sequences=CFG.evaluate.retention.sequences,
        shell:
            "{params.srtrack}.evaluate --config {params.config} --data $(dirname {input.index}) "
            "--checkpoint {input.checkpoint} {params.options} "
            "--max-sequences {params.sequences} --set study.seed={wildcards.seed} --out $(dirname {output.metrics}) > {log} 2>&1"
