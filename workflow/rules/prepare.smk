rule prepare:
    input:
        unpack(prepare_inputs),
    output:
        index=layout.index_path(OUT, "{dataset}", "{split}"),
        table=f"{layout.data_dir(OUT, '{dataset}', '{split}')}/{layout.SEQUENCES_FILE}",
        plot=report(
            f"{layout.data_dir(OUT, '{dataset}', '{split}')}/{layout.STATS_PLOT}",
            caption="../report/prepare.rst",
            category="Data",
        ),
    log:
        **layout.job_logs(OUT, "prepare", "{dataset}-{split}"),
    priority: dag.PRIORITY["data"]
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        **rule_resources(CFG, "prepare"),
    params:
        config=RESOLVED_CONFIG,
        fingerprint=prepare_fingerprint,
    shell:
        "python -m srtrack.job_usage {log.usage} python -m srtrack.prepare --config {params.config} --dataset {wildcards.dataset} "
        "--split {wildcards.split} --out $(dirname {output.index}) > {log.out} 2>&1"
