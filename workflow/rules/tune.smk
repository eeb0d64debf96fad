# Regularized tuning of one (modality, method or variant, seed) from the pretrained tracker.
rule tune:
    input:
        unpack(tune_inputs),
    output:
        **dag.tune_outputs(CFG),
        metrics=f"{layout.tune_dir(OUT, '{modality}', '{label}', '{seed}')}/{layout.METRICS_FILE}",
        plot=report(
            f"{layout.tune_dir(OUT, '{modality}', '{label}', '{seed}')}/{layout.LOSS_PLOT}",
            caption="../report/tune.rst",
            category="Training",
            subcategory="{modality}",
        ),
    log:
        **layout.job_logs(OUT, "tune", "{modality}-{label}-seed{seed}"),
    priority: dag.PRIORITY["tuning"]
    conda:
        "../../envs/train.yaml"
    threads: TRAIN.cpus_per_task
    resources:
        **rule_resources(CFG, "tune"),
    params:
        launcher=TRAIN_LAUNCHER,
        config=RESOLVED_CONFIG,
        fingerprint=dag.fingerprint(
            CFG,
            "study.seed",
            "model",
            "method",
            "train",
            "sampler",
            "encoding",
            "evaluate.epoch",
        ),
        data=lambda wildcards, input: " ".join(
            f"--data {Path(index).parent}" for index in input.indexes
        ),
        prior=lambda wildcards, input: (
            f"--prior {input.prior}" if "prior" in input.keys() else ""
        ),
    shell:
        "python -m srtrack.job_usage {log.usage} {params.launcher} -m srtrack.tune --config {params.config} --modality {wildcards.modality} "
        "--label {wildcards.label} --set study.seed={wildcards.seed} {params.data} --init {input.init} {params.prior} "
        "--out $(dirname {output.model}) > {log.out} 2>&1"
