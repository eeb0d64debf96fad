# One job per synthetic benchmark: a study renders only the benchmarks it reads, and `prepare` of one
# waits for that one alone.
rule synth:
    output:
        manifest=dag.synth_manifest(CFG, "{synthetic}"),
        preview=report(
            layout.synth_preview(OUT, "{synthetic}"),
            caption="../report/synth.rst",
            category="Data",
        ),
    log:
        **layout.job_logs(OUT, "synth", "{synthetic}"),
    conda:
        "../../envs/data.yaml"
    # one process per CPU of a job: on a small machine the benchmarks render side by side, and the
    # tuning runs that need only the small RGB-X benchmark start while the RGB data is still rendering
    threads: CFG.resources.cpus_per_task
    resources:
        **rule_resources(CFG, "synth"),
    params:
        config=RESOLVED_CONFIG,
        root=CFG.synth.root,
        fingerprint=dag.fingerprint(CFG, "study.seed", "synth"),
    shell:
        "python -m srtrack.job_usage {log.usage} python -m srtrack.synth --config {params.config} --only {wildcards.synthetic} --out {params.root} "
        "--preview {output.preview} --workers {threads} > {log.out} 2>&1"
