rule sensitivity:
    input:
        index=layout.index_path(OUT, CFG.sensitivity.dataset, "train"),
        checkpoint=layout.pretrained_checkpoint(CFG),
    output:
        prior=layout.prior_path(CFG),
        summary=f"{OUT}/prior/{CFG.sensitivity.dataset}/summary.json",
        plot=report(
            f"{OUT}/prior/{CFG.sensitivity.dataset}/fisher_heatmap.png",
            caption="../report/sensitivity.rst",
            category="Method",
        ),
    log:
        f"{OUT}/logs/sensitivity/{CFG.sensitivity.dataset}.log",
    benchmark:
        f"{OUT}/benchmarks/sensitivity/{CFG.sensitivity.dataset}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=layout.fingerprint(
            CFG, "study.seed", "model", "sensitivity", "sampler", "encoding"
        ),
    shell:
        "{params.srtrack}.sensitivity --config {params.config} --data $(dirname {input.index}) "
        "--checkpoint {input.checkpoint} --out $(dirname {output.prior}) > {log} 2>&1"


# The prior of a variant that sweeps its own settings (sensitivity.samples / rank / energy).
rule sensitivity_variant:
    input:
        index=layout.index_path(OUT, CFG.sensitivity.dataset, "train"),
        checkpoint=layout.pretrained_checkpoint(CFG),
    output:
        prior=layout.prior_path(CFG, "{variant}"),
        summary=f"{OUT}/prior/{CFG.sensitivity.dataset}/{{variant}}/summary.json",
    log:
        f"{OUT}/logs/sensitivity/{CFG.sensitivity.dataset}-{{variant}}.log",
    benchmark:
        f"{OUT}/benchmarks/sensitivity/{CFG.sensitivity.dataset}-{{variant}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=layout.fingerprint(
            CFG, "study.seed", "model", "sensitivity", "sampler", "encoding"
        ),
        overrides=lambda wildcards: layout.prior_overrides(CFG, wildcards.variant),
    shell:
        "{params.srtrack}.sensitivity --config {params.config} {params.overrides} "
        "--data $(dirname {input.index}) --checkpoint {input.checkpoint} "
        "--out $(dirname {output.prior}) > {log} 2>&1"
