# RGB pre-training of the embedded default: only when no pretrained tracker is configured.
if CFG.model.pretrained is None:

    rule pretrain:
        input:
            index=layout.index_path(OUT, CFG.sensitivity.dataset, "train"),
        output:
            model=layout.pretrain_path(CFG),
            metrics=f"{OUT}/pretrain/metrics.json",
            plot=report(
                f"{OUT}/pretrain/loss.png",
                caption="../report/pretrain.rst",
                category="Training",
            ),
        log:
            f"{OUT}/logs/pretrain.log",
        benchmark:
            f"{OUT}/benchmarks/pretrain.tsv"
        conda:
            "../../envs/train.yaml"
        # alone on the DAG's critical path (only the synthetic default pre-trains): at least 2
        threads: max(2, TRAIN.cpus_per_task)
        resources:
            **TRAIN.snakemake_resources(),
            mem_mb=lambda wildcards, attempt: TRAIN.mem_mb(attempt),
            runtime=TRAIN.runtime_min,
        params:
            python=TRAIN_PYTHON,
            config=RESOLVED_CONFIG,
            fingerprint=layout.fingerprint(
                CFG, "study.seed", "model", "pretrain", "sampler", "encoding"
            ),
        shell:
            "{params.python} -m srtrack.tune --config {params.config} --modality rgb --method full "
            "--data $(dirname {input.index}) --out $(dirname {output.model}) > {log} 2>&1"
