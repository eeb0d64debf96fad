rule prepare:
    input:
        unpack(prepare_inputs),
    output:
        index=layout.index_path(OUT, "{dataset}", "{split}"),
        table=f"{OUT}/data/{{dataset}}-{{split}}/sequences.csv",
        plot=report(
            f"{OUT}/data/{{dataset}}-{{split}}/stats.png",
            caption="../report/prepare.rst",
            category="Data",
        ),
    log:
        f"{OUT}/logs/prepare/{{dataset}}-{{split}}.log",
    benchmark:
        f"{OUT}/benchmarks/prepare/{{dataset}}-{{split}}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=prepare_fingerprint,
    shell:
        "{params.srtrack}.prepare --config {params.config} --dataset {wildcards.dataset} "
        "--split {wildcards.split} --out $(dirname {output.index}) > {log} 2>&1"
