# Regularized tuning of one (modality, method or variant, seed) from the pretrained tracker.
rule tune:
    input:
        unpack(tune_inputs),
    output:
        model=layout.tune_path(CFG, "{modality}", "{method}", "{seed}"),
        metrics=f"{OUT}/tune/{{modality}}/{{method}}/seed{{seed}}/metrics.json",
        plot=report(
            f"{OUT}/tune/{{modality}}/{{method}}/seed{{seed}}/loss.png",
            caption="../report/tune.rst",
            category="Training",
            subcategory="{modality}",
        ),
    log:
        f"{OUT}/logs/tune/{{modality}}-{{method}}-seed{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/tune/{{modality}}-{{method}}-seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: TRAIN.cpus_per_task
    resources:
        **TRAIN.snakemake_resources(),
        mem_mb=lambda wildcards, attempt: TRAIN.mem_mb(attempt),
        runtime=TRAIN.runtime_min,
    params:
        python=TRAIN_PYTHON,
        config=RESOLVED_CONFIG,
        fingerprint=layout.fingerprint(
            CFG, "study.seed", "model", "method", "train", "sampler", "encoding"
        ),
        settings=lambda wildcards: layout.tune_settings(
            CFG, wildcards.method, wildcards.seed
        ),
        data=lambda wildcards, input: " ".join(
            f"--data {Path(index).parent}" for index in input.indexes
        ),
        prior=lambda wildcards, input: (
            f"--prior {input.prior}" if "prior" in input.keys() else ""
        ),
    shell:
        "{params.python} -m srtrack.tune --config {params.config} --modality {wildcards.modality} "
        "{params.settings} {params.data} --init {input.init} {params.prior} "
        "--out $(dirname {output.model}) > {log} 2>&1"
