"""The real Snakemake DAG on fixture benchmarks: targets from the config, outputs, MLflow runs."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import layouts
from conftest import REPO
from srtrack.config import load_config
from srtrack.errors import ConfigError
from srtrack.workflow import prepare_targets, report_plots, study_data_targets


def snakemake(config: list[Path], workdir: Path, *args: str, checkout: Path = REPO) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    # targets and flags before --configfile, which takes every following word as a file
    command = [str(bin_dir / "snakemake"), "-s", str(checkout / "Snakefile"), "--cores", "2", *args,
               "--configfile", *map(str, config)]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=env, timeout=600)


def link_checkpoints(workdir: Path) -> None:
    """The default's model.pretrained is relative to the run folder: make the shipped file reachable there."""
    (workdir / "checkpoints").symlink_to(REPO / "checkpoints")


def test_targets_follow_configured_roots(tmp_path: Path, tmp_config) -> None:
    cfg = load_config(tmp_config({"datasets": {"lasher": {"root": "/d/l"}, "gtot": {"root": "/d/g"}}}))
    out = cfg.study.output_dir
    assert prepare_targets(cfg) == [f"{out}/data/gtot-test/index.json", f"{out}/data/lasher-train/index.json",
                                    f"{out}/data/lasher-test/index.json"]
    assert prepare_targets(load_config(tmp_config())) == []


def test_a_sweep_only_study_declares_no_plasticity_scatter(tmp_config) -> None:
    """config/tradeoff.yaml makes every label by sweeps: the report draws trade-off curves, no scatter."""
    roots = {name: {"root": f"/d/{name}"} for name in ("got10k", "lasher")}
    sweep = {"key": "train.sequences", "values": [2, 4], "labels": ["full"], "modalities": ["rgbt"], "title": "n"}
    swept = load_config(tmp_config({"datasets": roots, "study": {"methods": [], "ablations": {"rgbt": []},
                                                                 "sweeps": {"data": sweep}}}))
    assert sorted(report_plots(swept, "")) == ["tradeoff_data_rgbt"]
    both = load_config(tmp_config({"datasets": roots, "study": {"methods": ["srft"], "sweeps": {"data": sweep}}}))
    assert sorted(report_plots(both, "")) == ["plasticity", "tradeoff_data_rgbt"]


def test_the_study_prepares_only_the_splits_it_reads(tmp_config) -> None:
    roots = {name: {"root": f"/d/{name}"} for name in ("got10k", "lasher", "gtot", "depthtrack")}
    cfg = load_config(tmp_config({"datasets": roots, "study": {"tune_data": {"rgbt": ["lasher"], "rgbd": []}},
                                  "evaluate": {"retention": {"dataset": "got10k"}}}))
    out = cfg.study.output_dir
    assert study_data_targets(cfg) == [f"{out}/data/{s}/index.json"
                                       for s in ("got10k-test", "got10k-train", "lasher-test", "lasher-train")]
    assert f"{out}/data/depthtrack-train/index.json" in prepare_targets(cfg)   # `snakemake data` still checks it
    no_retention = load_config(tmp_config({"datasets": roots, "evaluate": {"retention": {"dataset": None}},
                                           "study": {"tune_data": {"rgbt": ["lasher"]}}}))
    assert [Path(t).parent.name for t in study_data_targets(no_retention)] == ["got10k-train", "lasher-test",
                                                                               "lasher-train"]


@pytest.mark.slow
def test_dag_prepares_every_configured_benchmark(tmp_path: Path, tmp_config) -> None:
    roots = {}
    for name, build in layouts.BUILDERS.items():
        roots[name] = tmp_path / "data" / name
        build(roots[name], "s1", 4)
    layouts.got10k(roots["got10k"], "v1", 4, folder="val")  # srtrack's GOT-10k test split
    config = tmp_config({"datasets": {name: {"root": str(root)} for name, root in roots.items()},
                         "sensitivity": {"samples": 16, "chunk": 8}})
    link_checkpoints(tmp_path)  # the study's model.pretrained, which the pre-flight checks
    prior = str(tmp_path / "results/prior/got10k/prior.safetensors")
    result = snakemake(config, tmp_path, "data", prior)
    assert result.returncode == 0, result.stderr[-4000:]
    # a configured checkpoint (the default's shipped RGB tracker) gives the prior, and replaces the pre-training
    assert "rule pretrain:" not in result.stderr and "rule sensitivity:" in result.stderr
    summary = json.loads(Path(prior).with_name("summary.json").read_text())
    assert summary["samples"] == 16 and summary["model"] == "ostrack_tiny" and Path(prior).is_file()
    out = tmp_path / "results"
    indexes = sorted(p.parent.name for p in out.glob("data/*/index.json"))
    assert indexes == sorted(["coesot-test", "coesot-train", "depthtrack-test", "depthtrack-train", "fe108-test",
                              "fe108-train", "got10k-test", "got10k-train", "gtot-test", "lasher-test", "lasher-train",
                              "rgbt234-test", "visevent-test", "visevent-train", "vot_rgbd22-test"])
    assert json.loads((out / "data/vot_rgbd22-test/index.json").read_text())["n_frames"] == 4
    assert (out / "logs/prepare/lasher-test.log").is_file()
    with (out / "benchmarks/prepare/lasher-test.tsv").open() as handle:  # the job's usage record
        (usage,) = csv.DictReader(handle, delimiter="\t")
    assert usage["exit_code"] == "0" and float(usage["s"]) > 0 and float(usage["cpu_time"]) > 0
    assert re.fullmatch(r"[0-9a-f]{32}", usage["invocation"]), "the snakemake run that the job belonged to"
    assert float(usage["max_rss"]) > 50, "the prepare process (numpy, OpenCV, MLflow), not the wrapper alone"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pytest").experiment_id
    (sensitivity,) = client.search_runs([experiment], "tags.stage = 'sensitivity'")
    assert sensitivity.info.status == "FINISHED"
    runs = client.search_runs([experiment], "tags.stage = 'prepare'")
    assert len(runs) == 15 and {r.info.status for r in runs} == {"FINISHED"}
    (parent,) = {r.data.tags["mlflow.parentRunId"] for r in runs}  # one parent run for the invocation
    dag = client.get_run(parent)
    assert dag.data.tags["srtrack.role"] == "dag" and dag.info.status == "FINISHED"
    assert client.get_run(dag.data.tags["mlflow.parentRunId"]).data.tags["srtrack.role"] == "study"

    again = snakemake(config, tmp_path, "data", prior)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("overlay", "target", "expected"), [
    # make demo: the shipped RGB tracker; RGB-T only, so DepthTrack and VisEvent are neither rendered nor prepared
    (None, (), {"synth": 2, "prepare": 4, "tune": 12, "evaluate_rgbt": 13, "retention": 1, "pretrain": 0}),
    ("tradeoff.yaml", (), {"prepare": 4, "tune": 40, "evaluate_rgbt": 41, "retention": 1, "pretrain": 0}),
    ("modalities.yaml", (), {"synth": 4, "prepare": 8, "tune": 13, "evaluate_rgbt": 8, "evaluate_rgbd": 4, "evaluate_rgbe": 4,
                             "retention": 1, "pretrain": 0}),
    ("forgetting.yaml", (), {"synth": 2, "prepare": 4, "tune": 12, "evaluate_rgbt": 13, "retention": 1, "pretrain": 0}),
    ("rgb-tracker.yaml", ("results/pretrain/model.pth",), {"synth": 1, "prepare": 1, "tune": 0, "pretrain": 1}),  # make rgb-tracker
])
def test_shipped_configs_resolve_to_their_documented_jobs(tmp_path: Path, overlay, target, expected) -> None:
    link_checkpoints(tmp_path)
    files = [REPO / "config" / "config.yaml"] + ([REPO / "config" / overlay] if overlay else [])
    dry = snakemake(files, tmp_path, "-n", *target)
    jobs = dry.stdout + dry.stderr
    assert dry.returncode == 0, jobs[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", jobs, flags=re.MULTILINE))
    assert {rule: int(counts.get(rule, 0)) for rule in expected} == expected


@pytest.mark.slow
def test_dag_rejects_an_invalid_config(tmp_path: Path, tmp_config) -> None:
    config = tmp_config({"prepare": {"check_images": "some"}})
    result = snakemake(config, tmp_path, "-n")
    assert result.returncode != 0
    line = next(i for i, text in enumerate(config[1].read_text().splitlines(), 1) if "check_images" in text)
    assert f"overlay.yaml:{line}: prepare.check_images: 'some' is not one of ['all', 'sampled', 'none']" in (
        result.stdout + result.stderr)


@pytest.mark.slow
def test_smoke_dag_runs_every_stage_and_reruns_only_what_changed(tmp_path: Path) -> None:
    smoke = REPO / "config" / "smoke.yaml"
    result = snakemake([smoke], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    # the closing summary names the scores and where everything is
    assert "Headline scores" in result.stdout and re.search(r"lasher +lora_srft +seed0 +lasher_rgbt", result.stdout)
    assert "/#/experiments?workflowType=machine_learning" in result.stdout  # the UI's model-training pages
    out = tmp_path / "results" / "smoke"
    # one synth job per benchmark the study reads: RGB-T and RGB-D, not VisEvent
    synthetic = ["depthtrack", "got10k", "lasher"]
    assert sorted(p.parent.name for p in out.glob("synthetic/*/manifest.json")) == synthetic
    assert sorted(p.parent.name for p in out.glob("synth/*/preview.png")) == synthetic
    indexes = sorted(p.parent.name for p in out.glob("data/*/index.json"))
    assert indexes == ["depthtrack-test", "depthtrack-train", "got10k-test", "got10k-train", "lasher-test",
                       "lasher-train"]
    lasher = json.loads((out / "data/lasher-test/index.json").read_text())
    assert lasher["n_sequences"] == 2 and lasher["list"]["kind"] == "file"
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.`srtrack.role` = 'stage'")
    stages = sorted(r.data.tags["stage"] for r in runs)
    # 9 test-split evaluations, and 10 on RGB data (retention: each tuned tracker, the untuned RGB-X
    # tracker of each modality and the RGB tracker), in 10 processes: one per tracker, and the RGB tracker's
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, flags=re.MULTILINE))
    assert {rule: int(jobs[rule]) for rule in ("evaluate_rgbt", "evaluate_rgbd", "retention")} == {
        "evaluate_rgbt": 7, "evaluate_rgbd": 2, "retention": 1}
    assert stages == ["evaluate"] * 19 + ["prepare"] * 6 + ["pretrain", "report", "sensitivity"] + ["synth"] * 3 + ["tune"] * 7
    assert {r.info.status for r in runs} == {"FINISHED"}
    # the closing message links the UI's runs table, filtered to the tuning runs and to one benchmark's evaluations
    page = rf"http://127\.0\.0\.1:5000/#/experiments/{runs[0].info.experiment_id}/runs\?searchFilter="
    study = "tags.study%20%3D%20%27smoke%27%20and%20"
    closing = result.stdout + result.stderr
    assert re.search(rf"tuning runs: {page}{study}tags\.stage%20%3D%20%27tune%27&workflowType=", closing), closing[-2000:]
    assert re.search(rf"evaluations on lasher: {page}{study}tags\.stage%20%3D%20%27evaluate%27%20and%20tags\.dataset", closing)
    tuned = {(r.data.tags["modality"], r.data.tags["label"]): r for r in runs if r.data.tags["stage"] == "tune"}
    assert set(tuned) == {("rgbt", "srft"), ("rgbd", "srft"), ("rgbt", "lora_srft"), ("rgbt", "lora"),
                          ("rgbt", "prompt"), ("rgbt", "srft_data_1"), ("rgbt", "srft_data_2")}
    lora_srft = tuned["rgbt", "lora_srft"].data
    assert lora_srft.params["run/model"] == "srtrack_lora_tiny" and lora_srft.metrics["reg/prior_removed"] >= 0
    # the transfer factors' mean and spread are fixed by construction: params once, not per-step metrics
    srft = tuned["rgbt", "srft"].data
    assert "reg/m_mean" not in srft.metrics and float(srft.params["reg/m_mean"]) == pytest.approx(0.45, abs=1e-3)
    check_honest_records(client, runs, tuned)
    # the ablation variant is SRFT with its overrides; the plain run keeps the configured network
    variant, plain = tuned["rgbt", "lora_srft"].data, tuned["rgbt", "srft"].data
    assert variant.tags["method"] == "srft" and plain.params["model.name"] == "srtrack_tiny"
    # a sweep point is its label with the swept key set (here: the first training sequence only)
    assert tuned["rgbt", "srft_data_1"].data.params["train.sequences"] == "1" and plain.params["train.sequences"] == "None"
    for modality, label in tuned:
        metrics = json.loads((out / f"tune/{modality}/{label}/seed0/metrics.json").read_text())
        assert metrics["steps"] == 4 and metrics["probe_after"] is not None
    summary = json.loads((out / "prior/got10k/summary.json").read_text())
    assert summary["checkpoint"].endswith("pretrain/model.pth")
    evaluated = sorted(str(p.relative_to(out / "eval")) for p in out.glob("eval/*/*/*/metrics.json"))
    assert evaluated == sorted([f"{d}/{t}/seed0/metrics.json" for d in ("depthtrack", "lasher")
                                for t in ("pretrained", "srft")] + [f"lasher/{v}/seed0/metrics.json" for v in
                                                                    ("lora_srft", "lora", "prompt", "srft_data_1", "srft_data_2")])
    profiles = json.loads((out / "eval/depthtrack/srft/seed0/metrics.json").read_text())["profiles"]
    assert set(profiles) == {"vot_longterm"}
    assert (out / "eval/lasher/comparison/curves_lasher_rgbt.png").is_file()
    assert (out / "eval/depthtrack/comparison/pr_curve_vot_longterm.png").is_file()
    # every tracker on the RGB split on one plot (rgbt.srft and rgbd.srft told apart), held by the report run
    assert (out / "retention/comparison/curves_got10k_otb.png").stat().st_size > 10_000
    report_run = next(r for r in runs if r.data.tags["stage"] == "report")
    logged = {a.path for a in client.list_artifacts(report_run.info.run_id, "comparison/retention")}
    assert "comparison/retention/curves_got10k_otb.png" in logged
    # where each method wins or loses, per sequence, against the untuned tracker (no full fine-tuning here)
    assert "report/sequences_lasher.png" in {a.path for a in client.list_artifacts(report_run.info.run_id, "report")}
    retained = json.loads((out / "retention/rgbt.srft/seed0/metrics.json").read_text())
    assert retained["benchmark"] == "got10k" and retained["sequences"] == 2
    assert "ostrack_tiny" in json.loads((out / "retention/pretrained/seed0/metrics.json").read_text())["raw_results"]
    untuned = json.loads((out / "retention/rgbd.pretrained/seed0/metrics.json").read_text())["raw_results"]
    assert "srtrack_tiny" in untuned, "the untuned RGB-X tracker is scored on RGB as the RGB-X network"
    tables = (out / "report/tables.md").read_text()
    assert "## Table 1: RGB-T: comparison" in tables and "| ours: srft |" in tables
    assert "| baseline: pretrained |" in tables and "Against full" not in tables, "no full fine-tuning in the smoke study"
    assert "| baseline: rgb_tracker |" in tables and "RGB-T: trade-off over RGB-T training sequences" in tables
    assert (out / "report/tradeoff_data_rgbt.png").stat().st_size > 10_000
    assert "Against pretrained (2 paired sequences, points)" in tables
    assert "Compatibility with PEFT" in tables and "| ours: lora_srft |" in tables
    assert "Synthetic benchmarks" in tables and "ViPT" not in tables, "no published rows beside synthetic numbers"
    # the tables' cells are metrics of the report run, equal to the published table
    cells = {(c["table"], c["row"], c["benchmark"], c["metric"]): c["value"]
             for c in csv.DictReader((out / "report/tables.csv").open())}
    assert report_run.data.metrics["main_rgbt/srft/lasher/success_auc"] == pytest.approx(
        float(cells["main_rgbt", "srft", "lasher", "SR"]), abs=1e-3)
    html = snakemake([smoke], tmp_path, "--report", "report.html")
    assert html.returncode == 0, html.stderr[-3000:]
    # the tables as HTML, which the report renders (it offers Markdown only as a download)
    embedded = re.search(r"data:text/html;[^,]*base64,([A-Za-z0-9+/=]+)", (tmp_path / "report.html").read_text())
    page = base64.b64decode(embedded[1]).decode()
    assert "<table>" in page and "<td>ours: srft</td>" in page and "Measures: LasHeR PR" in page

    unrelated = tmp_path / "lr.yaml"
    unrelated.write_text("train:\n  lr:\n    blocks: 0.001\n")
    resolved = out / "config.resolved.yaml"
    before = (resolved.read_bytes(), resolved.stat().st_mtime_ns)
    dry = snakemake([smoke, unrelated], tmp_path, "-n")
    jobs = dry.stdout + dry.stderr
    assert "tune " in jobs and "prepare " not in jobs and "pretrain " not in jobs and "sensitivity " not in jobs, \
        "a tuning setting must redo the tuning only"
    assert (resolved.read_bytes(), resolved.stat().st_mtime_ns) == before, "a dry run changes no file jobs read"
    harder = tmp_path / "harder.yaml"
    harder.write_text("synth:\n  night_fraction: 0.9\n")
    dry = snakemake([smoke, harder], tmp_path, "-n")
    jobs = dry.stdout + dry.stderr
    assert "synth " in jobs and "prepare " in jobs and "params" in jobs

    # the checkout and its run folder copied elsewhere (a moved or re-cloned checkout) plan nothing
    moved = tmp_path / "moved"
    ignored = shutil.ignore_patterns(".git", ".venv", "results", ".snakemake", "mlruns", "__pycache__", "*.egg-info",
                                     ".hypothesis", "moved")
    shutil.copytree(REPO, moved / "checkout", ignore=ignored, symlinks=True)
    shutil.copytree(tmp_path, moved / "run", ignore=ignored, symlinks=True)
    shutil.copytree(tmp_path / "results", moved / "run" / "results", symlinks=True)
    shutil.copytree(tmp_path / ".snakemake", moved / "run" / ".snakemake", symlinks=True)
    dry = snakemake([moved / "checkout/config/smoke.yaml"], moved / "run", "-n", checkout=moved / "checkout")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]
    # its MLflow store, relocated by one command, serves the artifacts from their new place
    from srtrack import relocate

    store = moved / "run/results/smoke/mlflow.db"
    assert relocate.main([str(store)]) == 0
    moved_client = MlflowClient(f"sqlite:///{store}")
    assert moved_client.get_experiment_by_name("srtrack").artifact_location == relocate.artifact_root(store) + "/srtrack"
    tables = moved_client.download_artifacts(report_run.info.run_id, "report/tables.md", str(tmp_path / "download"))
    assert Path(tables).read_bytes() == (out / "report/tables.md").read_bytes()
    assert moved_client.get_run(report_run.info.run_id).info.artifact_uri.startswith(relocate.artifact_root(store))


def check_honest_records(client: MlflowClient, runs: list, tuned: dict) -> None:
    """Every run says what it ran: params of the effective config, tags, names, inputs, links."""
    experiment = client.get_experiment_by_name("srtrack")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"

    def found(query: str) -> set[str]:
        return {r.info.run_name for r in client.search_runs([experiment.experiment_id], query, max_results=1000)}

    names = [r.info.run_name for r in runs]
    assert len(names) == len(set(names)), "run names are unique"
    assert "tune rgbt/lora s0" in names and "pretrain got10k s0" in names and "prepare lasher/test" in names
    # the method and network each run really ran, as params (only tuning reads the method section)
    assert found("params.`method.name` = 'lora'") == {"tune rgbt/lora s0"}
    assert found("params.`method.name` = 'prompt'") == {"tune rgbt/prompt s0"}
    assert found("params.`method.name` = 'full'") == {"pretrain got10k s0"}
    assert found("params.`method.name` = 'srft'") == {f"tune {m}/srft s0" for m in ("rgbt", "rgbd")} | {
        "tune rgbt/lora_srft s0", "tune rgbt/srft_data_1 s0", "tune rgbt/srft_data_2 s0"}
    lora_model = found("params.`model.name` = 'srtrack_lora_tiny'")
    assert lora_model == {"tune rgbt/lora s0", "tune rgbt/lora_srft s0", "evaluate lasher/lora s0",
                          "evaluate lasher/lora_srft s0", "evaluate got10k/lora (tuned on rgbt) s0",
                          "evaluate got10k/lora_srft (tuned on rgbt) s0"}
    assert found("params.`model.name` = 'vipt_tiny'") == {"tune rgbt/prompt s0", "evaluate lasher/prompt s0",
                                                          "evaluate got10k/prompt (tuned on rgbt) s0"}
    ostrack = found("params.`model.name` = 'ostrack_tiny'")
    assert ostrack == {"pretrain got10k s0", "sensitivity got10k", "evaluate got10k/pretrained s0"}
    assert found("tags.label = 'lora' and tags.stage = 'evaluate'") == {"evaluate lasher/lora s0",
                                                                          "evaluate got10k/lora (tuned on rgbt) s0"}
    assert found("tags.method = 'prompt'") == {"tune rgbt/prompt s0", "evaluate lasher/prompt s0",
                                               "evaluate got10k/prompt (tuned on rgbt) s0"}
    prepare = next(r for r in runs if r.info.run_name == "prepare lasher/test")
    assert not any(k.startswith(("method.", "model.", "train.")) for k in prepare.data.params)
    # the splits each run read, and the runs a tuned tracker comes from and is scored by
    lora = tuned["rgbt", "lora"]
    assert [d.dataset.name for d in lora.inputs.dataset_inputs] == ["lasher-train"]
    pretrain = next(r for r in runs if r.data.tags["stage"] == "pretrain")
    prior = next(r for r in runs if r.data.tags["stage"] == "sensitivity")
    assert lora.data.tags["init_run_id"] == pretrain.info.run_id and "prior_run_id" not in lora.data.tags
    assert tuned["rgbt", "srft"].data.tags["prior_run_id"] == prior.info.run_id
    scored = client.search_runs([experiment.experiment_id], "tags.stage = 'evaluate' and tags.label = 'lora'")
    assert {r.data.tags["tune_run_id"] for r in scored} == {lora.info.run_id}
    # each run's description says what it is and links the runs it comes from, by the UI's own routes
    runs_of = f"#/experiments/{experiment.experiment_id}/runs/"
    note = lora.data.tags["mlflow.note.content"]
    assert note.startswith("**tune rgbt/lora s0**: stage `tune`") and f"({runs_of}{pretrain.info.run_id})" in note
    assert all(f"({runs_of}{lora.info.run_id})" in r.data.tags["mlflow.note.content"] for r in scored)
    # and the logged model it scored: a tag and a model input of the evaluation run (the model's page lists it)
    model_id = lora.data.tags["model_id"]
    assert {r.data.tags["scored_model_id"] for r in scored} == {model_id}
    assert all([m.model_id for m in client.get_run(r.info.run_id).inputs.model_inputs] == [model_id] for r in scored)
    assert 0 <= client.get_run(lora.info.run_id).data.metrics["eval/lasher/success_auc"] <= 1
    # the links the other way, written by the report stage: a tuning run leads to its evaluations, a prior
    # to the tuning runs it regularizes, a logged model to the evaluations that scored it
    leads = lora.data.tags["mlflow.note.content"].split("**Leads to**")[1]
    assert all(f"- its tracker is scored by [{r.info.run_name}]({runs_of}{r.info.run_id})" in leads for r in scored)
    assert f"({runs_of}{tuned['rgbt', 'srft'].info.run_id})" in prior.data.tags["mlflow.note.content"]
    assert all(r.info.run_id in client.get_logged_model(model_id).tags["srtrack.scored_by"] for r in scored)
    # figures at the artifact root, where MLflow's compare view shows them side by side
    on_lasher = next(r for r in scored if r.data.tags["dataset"] == "lasher")
    assert {"curves_lasher_rgbt.png", "evaluate"} <= {a.path for a in client.list_artifacts(on_lasher.info.run_id)}
    # every tracker trained (pre-training and tuning) is a logged model, with its evaluation's scores
    models = {m.name: m for m in client.search_logged_models([experiment.experiment_id])}
    assert set(models) == {f"{label}-{modality}-s0" for modality, label in tuned} | {"pretrained-rgb-s0"}
    lora_model = client.get_logged_model(models["lora-rgbt-s0"].model_id)
    assert lora_model.source_run_id == lora.info.run_id
    assert {m.key for m in lora_model.metrics} >= {"eval/lasher/success_auc", "retained/got10k/success_auc"}
    # the study run holds every headline score in one table
    study = client.search_runs([experiment.experiment_id], "tags.`srtrack.role` = 'study'")[0]
    summary = json.loads(Path(client.download_artifacts(study.info.run_id, "study_summary.json")).read_text())
    assert len(summary["data"]) == 19 and "lasher SR" in summary["columns"]


def test_study_grid_expands_methods_ablations_variants_seeds_and_the_baseline(tmp_config) -> None:
    from srtrack.study import Study, tracker_for_method
    from srtrack.workflow import (eval_name, eval_targets, pretrained_checkpoint, retention_targets, score_arguments,
                                  score_checkpoint, score_outputs, smoke_targets, tune_targets)

    roots = {"got10k": "/d/g", "lasher": "/d/l", "depthtrack": "/d/d"}
    study = {"methods": ["full", "srft", "prompt"], "seeds": [0, 1], "ablations": {"rgbt": [], "rgbd": ["k05"]},
             "tune_data": {"rgbt": ["lasher"], "rgbd": ["depthtrack"], "rgbe": []},
             "variants": {"k05": {"method": "srft", "set": {"method.kappa.start": 0.5}}}}
    cfg = load_config(tmp_config({"study": study, "datasets": {k: {"root": v} for k, v in roots.items()}}))
    out = cfg.study.output_dir
    grid = [("rgbt", m) for m in ("full", "srft", "prompt")] + [("rgbd", m) for m in ("full", "srft", "prompt", "k05")]
    assert tune_targets(cfg) == [f"{out}/tune/{mod}/{m}/seed{s}/model.pth" for mod, m in grid for s in (0, 1)]
    # every (method, seed) on each test split, plus one baseline (the pretrained tracker of study.seed)
    assert f"{out}/eval/lasher/pretrained/seed0/metrics.json" in eval_targets(cfg)
    assert len(eval_targets(cfg)) == 2 * len(grid) + 2
    assert eval_name(cfg, "k05", 1) == "k05-seed1"
    # the RGB tracker, and per modality the untuned RGB-X tracker, scored on RGB too
    assert retention_targets(cfg)[-3:] == [f"{out}/retention/{r}/seed0/metrics.json"
                                           for r in ("rgbt.pretrained", "rgbd.pretrained", "pretrained")]
    assert f"{out}/retention/rgbd.k05/seed1/metrics.json" in retention_targets(cfg)
    # one job per tracker: its modality's test split and the RGB split it retains, named in its outputs
    assert score_outputs(cfg, "rgbd") == {
        "depthtrack_metrics": f"{out}/eval/depthtrack/{{label}}/seed{{seed}}/metrics.json",
        "depthtrack_table": f"{out}/eval/depthtrack/{{label}}/seed{{seed}}/per_sequence.csv",
        "retained": f"{out}/retention/rgbd.{{label}}/seed{{seed}}/metrics.json"}
    assert score_arguments(cfg, "rgbd", "k05", 1) == (
        f"--label k05 --name k05-seed1 --data {out}/data/depthtrack-test --out {out}/eval/depthtrack/k05/seed1 "
        f"--retain {out}/data/got10k-test {out}/retention/rgbd.k05/seed1 --tuned-on rgbd --retain-sequences "
        f"{cfg.evaluate.retention.sequences}")
    assert score_checkpoint(cfg, "rgbt", "pretrained", 0) == pretrained_checkpoint(cfg)
    assert score_checkpoint(cfg, "rgbd", "k05", 1) == f"{out}/tune/rgbd/k05/seed1/model.pth"
    # every scored run of the grid belongs to exactly one job
    runs = list(Study(cfg).scoring_runs())
    assert len({(r.modality, r.label.name, r.seed) for r in runs}) == len(runs) == len(grid) * 2 + 2
    scored = {path.format(label=r.label.name, seed=r.seed) for r in runs for path in score_outputs(cfg, r.modality).values()}
    # all but the RGB tracker's own retention run, which its own rule scores
    assert {p for p in scored if p.endswith("metrics.json")} == set(eval_targets(cfg)) | set(retention_targets(cfg)[:-1])
    assert smoke_targets(cfg) == [f"{out}/tune/rgbt/full/seed0/model.pth", f"{out}/eval/lasher/full/seed0/metrics.json",
                                  f"{out}/eval/lasher/pretrained/seed0/metrics.json"]
    assert tracker_for_method("srtrack_base", "lora") == "srtrack_lora_base"
    # a label resolves once: its regularizer, the network it trains, its settings as --set assignments
    labels = Study(cfg)
    k05, prompt, baseline = labels.label("k05"), labels.label("prompt"), labels.label("pretrained")
    assert (k05.method, k05.model, k05.assignments()) == ("srft", "srtrack_tiny", [
        'method.name="srft"', 'model.name="srtrack_tiny"', "method.kappa.start=0.5"])
    assert (prompt.method, prompt.model, prompt.uses_prior) == ("prompt", "vipt_tiny", False)
    assert baseline.is_baseline and baseline.method is None and labels.baseline_network("rgb") == "ostrack_tiny"
    with pytest.raises(ConfigError, match="label 'k9' is neither a method"):
        labels.label("k9")
    # no RGB data but a given checkpoint: methods without a prior still run
    no_rgb = load_config(tmp_config({"study": {"methods": ["full", "srft"], "ablations": {"rgbt": []}, "seeds": [0]},
                                     "model": {"pretrained": "/w.pth"}, "datasets": {"lasher": {"root": "/d/l"}}}))
    assert tune_targets(no_rgb) == [f"{out}/tune/rgbt/full/seed0/model.pth"]


def test_the_joint_setting_is_tuned_alone_and_scores_every_benchmark_it_lists(tmp_config) -> None:
    from srtrack.study import Study
    from srtrack.workflow import score_arguments, score_checkpoint, tune_targets

    roots = {"got10k": "/d/g", "lasher": "/d/l", "depthtrack": "/d/d", "visevent": "/d/v"}
    joint = {"methods": ["srft"], "seeds": [0], "tune_data": {"rgbt": [], "rgbx": ["visevent", "depthtrack", "lasher"]},
             "eval_data": {"rgbx": ["lasher", "depthtrack"]}}
    cfg = load_config(tmp_config({"study": joint, "datasets": {k: {"root": v} for k, v in roots.items()}}))
    study, out = Study(cfg), cfg.study.output_dir
    assert study.tuned_modalities() == ["rgbx"] and study.scored_modalities() == ["rgbx"]
    assert tune_targets(cfg) == [f"{out}/tune/rgbx/srft/seed0/model.pth"]
    assert score_checkpoint(cfg, "rgbx", "srft", 0) == f"{out}/tune/rgbx/srft/seed0/model.pth"
    assert ("visevent", "train") in study.used_splits() and ("visevent", "test") not in study.used_splits()
    # one job scores the joint tracker on both test benchmarks, and on RGB as tuned on rgbx
    assert score_arguments(cfg, "rgbx", "srft", 0).startswith(
        f"--label srft --name srft --data {out}/data/lasher-test --out {out}/eval/lasher/srft/seed0 --data "
        f"{out}/data/depthtrack-test --out {out}/eval/depthtrack/srft/seed0 --retain {out}/data/got10k-test "
        f"{out}/retention/rgbx.srft/seed0 --tuned-on rgbx")
    with pytest.raises(ConfigError, match="tune_data.rgbx .* beside per-modality tuning .tune_data.rgbt."):
        load_config(tmp_config({"study": {"tune_data": {"rgbx": ["lasher"]}}}, name="both.yaml"))


def test_a_sweep_makes_one_variant_per_label_and_value_on_its_modalities(tmp_config) -> None:
    from srtrack.study import Study
    from srtrack.workflow import report_plots, tune_targets

    roots = {"got10k": "/d/g", "lasher": "/d/l", "depthtrack": "/d/d"}
    study = {"methods": ["full"], "ablations": {"rgbt": []}, "seeds": [0],
             "tune_data": {"rgbt": ["lasher"], "rgbd": ["depthtrack"], "rgbe": []},
             "variants": {"k05": {"method": "srft", "set": {"method.kappa.kind": "constant", "method.kappa.start": 0.5}}},
             "sweeps": {"data": {"key": "train.sequences", "values": [2, 8], "labels": ["full", "k05"],
                                 "modalities": ["rgbt"], "title": "training sequences"},
                        "kappa": {"key": "method.kappa.start", "values": [0.25, 1.0], "labels": ["k05"],
                                  "modalities": ["rgbd", "rgbe"], "title": "kappa"}}}
    cfg = load_config(tmp_config({"study": study, "datasets": {k: {"root": v} for k, v in roots.items()}}))
    grid = Study(cfg)
    assert grid.label_names("rgbt") == ["full", "full_data_2", "full_data_8", "k05_data_2", "k05_data_8"]
    assert grid.label_names("rgbd") == ["full", "k05_kappa_0p25", "k05_kappa_1"]
    # the swept label's method and settings, with the swept key at the point's value
    point = grid.label("k05_data_8")
    assert (point.method, point.settings) == ("srft", {"method.kappa.kind": "constant", "method.kappa.start": 0.5,
                                                       "train.sequences": 8})
    assert grid.label("k05_kappa_0p25").settings["method.kappa.start"] == 0.25
    assert [(p.label, p.value) for p in grid.sweep_points("data")] == [("full", 2), ("full", 8), ("k05", 2), ("k05", 8)]
    assert f"{cfg.study.output_dir}/tune/rgbt/k05_data_2/seed0/model.pth" in tune_targets(cfg)
    # one trade-off figure per sweep and tuned modality (no RGB-E data here)
    assert grid.sweep_modalities() == [("data", "rgbt"), ("kappa", "rgbd")]
    assert set(report_plots(cfg, "c")) == {"plasticity", "tradeoff_data_rgbt", "tradeoff_kappa_rgbd"}


@pytest.mark.parametrize(("study", "message"), [
    ({"methods": ["srft", "k9"]}, "study.methods: 'k9' is neither a method"),
    ({"sweeps": {"n": {"key": "train.sequences", "values": [1, 2], "labels": ["k9"], "modalities": ["rgbt"], "title": "n"}}},
     "study.sweeps.n: 'k9' is neither a method"),
    ({"sweeps": {"n": {"key": "train.sequences", "values": [0, 2], "labels": ["full"], "modalities": ["rgbt"], "title": "n"}}},
     "study.sweeps.n (full_n_0)"),
    ({"variants": {"full_n_1": {"method": "full", "set": {}}},
      "sweeps": {"n": {"key": "train.sequences", "values": [1, 2], "labels": ["full"], "modalities": ["rgbt"], "title": "n"}}},
     "makes the label 'full_n_1', which is already a method or variant"),
    ({"ablations": {"rgbt": ["nope"]}}, "study.ablations.rgbt: 'nope' is neither a method"),
    ({"variants": {"srft": {"method": "srft", "set": {}}}}, "shadows the method of that name"),
    ({"variants": {"k": {"method": "srft", "set": {"method.kapa.start": 0.5}}}}, "no section 'method.kapa'"),
    ({"variants": {"k": {"method": "srft", "set": {"method.kappa.start": 2}}}}, "study.variants.k"),
])
def test_study_names_unknown_methods_and_broken_variants(tmp_config, study, message) -> None:
    from srtrack.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(tmp_config({"study": study}))


@pytest.mark.slow
def test_a_prior_sweep_variant_gets_its_own_prior(tmp_path: Path, tmp_config) -> None:
    from srtrack.workflow import tune_inputs

    study = {"methods": ["srft"], "ablations": {"rgbt": ["rank4"]},
             "variants": {"rank4": {"method": "srft", "set": {"sensitivity.rank": 4}}}}
    roots = {"got10k": tmp_path / "data" / "got10k", "lasher": tmp_path / "data" / "lasher"}
    layouts.got10k(roots["got10k"], "s1", 4)
    layouts.got10k(roots["got10k"], "v1", 4, folder="val")
    layouts.lasher(roots["lasher"], "s1", 4)
    config = tmp_config({"study": study, "datasets": {name: {"root": str(root)} for name, root in roots.items()}})
    cfg = load_config(config)
    out = cfg.study.output_dir
    assert tune_inputs(cfg, "rgbt", "rank4")["prior"] == f"{out}/prior/got10k/rank4/prior.safetensors"
    assert tune_inputs(cfg, "rgbt", "srft")["prior"] == f"{out}/prior/got10k/prior.safetensors"
    link_checkpoints(tmp_path)
    dry = snakemake(config, tmp_path, "-n", "-p")
    jobs = dry.stdout + dry.stderr
    assert dry.returncode == 0, jobs[-3000:]
    assert "rule sensitivity_variant:" in jobs and "--label rank4" in jobs
    assert jobs.count("rule sensitivity:") == 1, "the default prior is computed once for the other methods"
