# The study's tables from the MLflow store (python -m srtrack.report), after every evaluation.
rule report:
    input:
        layout.eval_targets(CFG),
        layout.retention_targets(CFG),
    output:
        **layout.report_plots(CFG, "../report/plasticity.rst"),
        tables=report(
            f"{OUT}/report/tables.md",
            caption="../report/tables.rst",
            category="Tables",
        ),
        cells=f"{OUT}/report/tables.csv",
    log:
        f"{OUT}/logs/report.log",
    benchmark:
        f"{OUT}/benchmarks/report.tsv"
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
    shell:
        "{params.srtrack}.report --config {params.config} --out $(dirname {output.tables}) > {log} 2>&1"
