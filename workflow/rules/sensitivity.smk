rule sensitivity:
    input:
        index=layout.index_path(OUT, CFG.sensitivity.dataset, "train"),
        checkpoint=dag.pretrained_checkpoint(CFG),
    output:
        prior=dag.prior_path(CFG),
        summary=f"{layout.prior_dir(OUT, CFG.sensitivity.dataset)}/{layout.SUMMARY_FILE}",
        plot=report(
            f"{layout.prior_dir(OUT, CFG.sensitivity.dataset)}/{layout.FISHER_PLOT}",
            caption="../report/sensitivity.rst",
            category="Method",
        ),
    log:
        **layout.job_logs(OUT, "sensitivity", CFG.sensitivity.dataset),
    # the prior gates every run that uses it: scheduled first, on one training process's CPUs (with 2 threads on
    # 2 cores it waited until no other job ran, i.e. until most tuning had finished)
    priority: dag.PRIORITY["prior"]
    conda:
        "../../envs/train.yaml"
    threads: CFG.resources.cpus_per_task
    resources:
        **rule_resources(CFG, "sensitivity", estimate=lambda: dag.on_cluster(workflow)),
    params:
        config=RESOLVED_CONFIG,
        fingerprint=dag.fingerprint(
            CFG, "study.seed", "model", "sensitivity", "sampler", "encoding"
        ),
    shell:
        "python -m srtrack.job_usage {log.usage} python -m srtrack.sensitivity --config {params.config} --data $(dirname {input.index}) "
        "--checkpoint {input.checkpoint} --out $(dirname {output.prior}) > {log.out} 2>&1"


# The prior of a variant that sweeps its own settings (sensitivity.samples / rank / energy).
rule sensitivity_variant:
    input:
        index=layout.index_path(OUT, CFG.sensitivity.dataset, "train"),
        checkpoint=dag.pretrained_checkpoint(CFG),
    output:
        prior=dag.prior_path(CFG, "{variant}"),
        summary=f"{layout.prior_dir(OUT, CFG.sensitivity.dataset, '{variant}')}/{layout.SUMMARY_FILE}",
    log:
        **layout.job_logs(OUT, "sensitivity", f"{CFG.sensitivity.dataset}-{{variant}}"),
    # as rule sensitivity
    priority: dag.PRIORITY["prior"]
    conda:
        "../../envs/train.yaml"
    threads: CFG.resources.cpus_per_task
    resources:
        **rule_resources(CFG, "sensitivity", estimate=lambda: dag.on_cluster(workflow)),
    params:
        config=RESOLVED_CONFIG,
        fingerprint=dag.fingerprint(
            CFG, "study.seed", "model", "sensitivity", "sampler", "encoding"
        ),
    shell:
        "python -m srtrack.job_usage {log.usage} python -m srtrack.sensitivity --config {params.config} --label {wildcards.variant} "
        "--data $(dirname {input.index}) --checkpoint {input.checkpoint} "
        "--out $(dirname {output.prior}) > {log.out} 2>&1"
