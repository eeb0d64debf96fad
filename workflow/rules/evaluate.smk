# Track a benchmark's test split with one tracker (a tuned method or the pretrained baseline) and score it.
rule evaluate:
    input:
        index=layout.index_path(OUT, "{dataset}", "test"),
        checkpoint=lambda wildcards: layout.eval_checkpoint(
            CFG, wildcards.dataset, wildcards.tracker, wildcards.seed
        ),
    output:
        metrics=f"{OUT}/eval/{{dataset}}/{{tracker}}/seed{{seed}}/metrics.json",
        table=f"{OUT}/eval/{{dataset}}/{{tracker}}/seed{{seed}}/per_sequence.csv",
    log:
        f"{OUT}/logs/evaluate/{{dataset}}-{{tracker}}-seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate/{{dataset}}-{{tracker}}-seed{{seed}}.tsv"
    conda:
        "../../envs/eval.yaml"
    threads: CFG.resources.cpus_per_task * CFG.evaluate.workers
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=layout.fingerprint(CFG, *layout.EVALUATE_SECTIONS),
        model=lambda wildcards: layout.eval_model_option(CFG, wildcards.tracker),
        name=lambda wildcards: layout.eval_name(CFG, wildcards.tracker, wildcards.seed),
    shell:
        "{params.srtrack}.evaluate --config {params.config} --data $(dirname {input.index}) "
        "--checkpoint {input.checkpoint} --name {params.name} {params.model} "
        "--label {wildcards.tracker} --set study.seed={wildcards.seed} "
        "--out $(dirname {output.metrics}) > {log} 2>&1"


# Every evaluated tracker of one benchmark on the same axes.
rule compare:
    input:
        lambda wildcards: layout.compare_inputs(CFG, wildcards.dataset),
    output:
        report(
            directory(f"{OUT}/eval/{{dataset}}/comparison"),
            patterns=["{name}.png"],
            caption="../report/compare.rst",
            category="Evaluation",
            subcategory="{dataset}",
        ),
    log:
        f"{OUT}/logs/compare/{{dataset}}.log",
    benchmark:
        f"{OUT}/benchmarks/compare/{{dataset}}.tsv"
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
if layout.retention_split(CFG):

    rule retention:
        input:
            index=layout.index_path(OUT, *layout.retention_split(CFG)),
            checkpoint=lambda wildcards: layout.retention_checkpoint(
                CFG, wildcards.retained, wildcards.seed
            ),
        output:
            metrics=f"{OUT}/retention/{{retained}}/seed{{seed}}/metrics.json",
        log:
            f"{OUT}/logs/retention/{{retained}}-seed{{seed}}.log",
        benchmark:
            f"{OUT}/benchmarks/retention/{{retained}}-seed{{seed}}.tsv"
        conda:
            "../../envs/eval.yaml"
        threads: CFG.resources.cpus_per_task * CFG.evaluate.workers
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            srtrack=SRTRACK,
            config=RESOLVED_CONFIG,
            fingerprint=layout.fingerprint(
                CFG, *layout.EVALUATE_SECTIONS, "evaluate.retention"
            ),
            options=lambda wildcards: layout.retention_options(
                CFG, wildcards.retained, wildcards.seed
            ),
        shell:
            "{params.srtrack}.evaluate --config {params.config} --data $(dirname {input.index}) "
            "--checkpoint {input.checkpoint} {params.options} --out $(dirname {output.metrics}) > {log} 2>&1"
