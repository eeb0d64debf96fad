# RGB pre-training of the embedded default: only when no pretrained tracker is configured.
if CFG.model.pretrained is None:

    rule pretrain:
        input:
            index=layout.index_path(OUT, CFG.sensitivity.dataset, "train"),
        output:
            model=dag.pretrain_path(CFG),
            metrics=f"{layout.pretrain_dir(OUT)}/{layout.METRICS_FILE}",
            plot=report(
                f"{layout.pretrain_dir(OUT)}/{layout.LOSS_PLOT}",
                caption="../report/pretrain.rst",
                category="Training",
            ),
        log:
            **layout.job_logs(OUT, "pretrain", "pretrain"),
        conda:
            "../../envs/train.yaml"
        # alone on the DAG's critical path (only the synthetic default pre-trains): at least 2
        threads: max(2, TRAIN.cpus_per_task)
        resources:
            **rule_resources(CFG, "pretrain"),
        params:
            launcher=TRAIN_LAUNCHER,
            config=RESOLVED_CONFIG,
            fingerprint=dag.fingerprint(
                CFG, "study.seed", "model", "pretrain", "sampler", "encoding"
            ),
        shell:
            "python -m srtrack.job_usage {log.usage} {params.launcher} -m srtrack.tune --config {params.config} --modality rgb --label full "
            "--data $(dirname {input.index}) --out $(dirname {output.model}) > {log.out} 2>&1"
