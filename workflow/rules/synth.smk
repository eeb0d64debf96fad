rule synth:
    output:
        manifest=dag.synth_manifest(CFG),
        preview=report(
            layout.synth_preview(OUT),
            caption="../report/synth.rst",
            category="Data",
        ),
    log:
        layout.log_path(OUT, "synth", "synth"),
    benchmark:
        layout.benchmark_path(OUT, "synth", "synth")
    conda:
        "../../envs/data.yaml"
    # the first job, which nothing else can run beside: two processes at least (capped at --cores)
    threads: max(2, CFG.resources.cpus_per_task)
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=dag.fingerprint(CFG, "study.seed", "synth"),
    shell:
        "{params.srtrack}.synth --config {params.config} --out $(dirname {output.manifest}) "
        "--preview {output.preview} --workers {threads} > {log} 2>&1"
