# Regularized tuning of one (modality, method) from the pretrained tracker.
rule tune:
    input:
        unpack(tune_inputs),
    output:
        model=layout.tune_path(CFG, "{modality}", "{method}"),
        metrics=f"{OUT}/tune/{{modality}}/{{method}}/metrics.json",
        plot=report(
            f"{OUT}/tune/{{modality}}/{{method}}/loss.png",
            caption="../report/tune.rst",
            category="Training",
            subcategory="{modality}",
        ),
    log:
        f"{OUT}/logs/tune/{{modality}}-{{method}}.log",
    benchmark:
        f"{OUT}/benchmarks/tune/{{modality}}-{{method}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=CFG.resources.runtime_min,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=layout.fingerprint(
            CFG, "study.seed", "model", "method", "train", "sampler", "encoding"
        ),
        data=lambda wildcards, input: " ".join(
            f"--data {Path(index).parent}" for index in input.indexes
        ),
        prior=lambda wildcards, input: (
            f"--prior {input.prior}" if "prior" in input.keys() else ""
        ),
    shell:
        "{params.srtrack}.tune --config {params.config} --modality {wildcards.modality} "
        "--method {wildcards.method} {params.data} --init {input.init} {params.prior} "
        "--out $(dirname {output.model}) > {log} 2>&1"
