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
        threads: 2
        resources:
            mem_mb=8000,
            runtime=120,
        params:
            srtrack=SRTRACK,
            config=RESOLVED_CONFIG,
            fingerprint=layout.fingerprint(
                CFG, "study.seed", "model", "pretrain", "sampler", "encoding"
            ),
        shell:
            "{params.srtrack}.tune --config {params.config} --modality rgb --method full "
            "--data $(dirname {input.index}) --out $(dirname {output.model}) > {log} 2>&1"
