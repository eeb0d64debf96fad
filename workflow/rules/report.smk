# The study's tables from the MLflow store (python -m srtrack.report), after every evaluation.
rule report:
    input:
        dag.eval_targets(CFG),
        dag.retention_targets(CFG),
        # the report run holds the comparison plots
        dag.compare_targets(CFG),
    output:
        **dag.report_plots(CFG, "../report/plasticity.rst"),
        tables=dag.report_path(CFG),
        # snakemake --report renders HTML, not Markdown
        html=report(
            f"{layout.report_dir(OUT)}/{layout.TABLES_HTML}",
            caption="../report/tables.rst",
            category="Tables",
        ),
        cells=f"{layout.report_dir(OUT)}/{layout.CELLS_FILE}",
    log:
        **layout.job_logs(OUT, "report", "report"),
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        **rule_resources(CFG, "report"),
    params:
        config=RESOLVED_CONFIG,
    shell:
        "python -m srtrack.job_usage {log.usage} python -m srtrack.report --config {params.config} --out $(dirname {output.tables}) > {log.out} 2>&1"
