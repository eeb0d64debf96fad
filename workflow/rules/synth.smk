rule synth:
    output:
        manifest=layout.synth_manifest(CFG),
        preview=report(
            f"{OUT}/synth/preview.png",
            caption="../report/synth.rst",
            category="Data",
        ),
    log:
        f"{OUT}/logs/synth/synth.log",
    benchmark:
        f"{OUT}/benchmarks/synth/synth.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        srtrack=SRTRACK,
        config=RESOLVED_CONFIG,
        fingerprint=layout.fingerprint(CFG, "study.seed", "synth"),
    shell:
        "{params.srtrack}.synth --config {params.config} --out $(dirname {output.manifest}) "
        "--preview {output.preview} > {log} 2>&1"
