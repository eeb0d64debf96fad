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
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=dag.fingerprint(CFG, "study.seed", "synth"),
    shell:
        "{params.srtrack}.synth --config {params.config} --out $(dirname {output.manifest}) "
        "--preview {output.preview} > {log} 2>&1"
