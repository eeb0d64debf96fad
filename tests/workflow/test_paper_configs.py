"""config/paper/: every released setting validates, and its DAG resolves on benchmark roots in the real
layouts with the jobs and the Slurm resources the paper's runs need."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import layouts
from conftest import DEFAULT_CONFIG, REPO
from srtrack.config import load_config
from srtrack.study import Study
from test_dag import snakemake

PAPER = REPO / "config" / "paper"
# setting -> (modality, training benchmark(s), test benchmarks, network sizes, epochs, global batch)
SETTINGS = {
    "ostrack256-rgbt": ("rgbt", "lasher", ["lasher", "rgbt234"], (128, 256), 30, 80),
    "ostrack256-rgbd": ("rgbd", "depthtrack", ["depthtrack", "vot_rgbd22"], (128, 256), 20, 80),
    "ostrack256-rgbe": ("rgbe", "coesot", ["coesot"], (128, 256), 30, 80),
    "ostrack256-fe108": ("rgbe", "fe108", ["fe108"], (128, 256), 30, 80),
    "ostrack256-visevent": ("rgbe", "visevent", ["visevent"], (128, 256), 30, 80),
    "ostrack384-rgbt": ("rgbt", "lasher", ["lasher", "rgbt234"], (192, 384), 16, 56),
    "ostrack384-rgbd": ("rgbd", "depthtrack", ["depthtrack", "vot_rgbd22"], (192, 384), 20, 56),
    "droptrack384-rgbt": ("rgbt", "lasher", ["lasher", "rgbt234"], (192, 384), 20, 56),
    "droptrack384-rgbd": ("rgbd", "depthtrack", ["depthtrack", "vot_rgbd22"], (192, 384), 20, 56),
    "droptrack384-rgbe": ("rgbe", "coesot", ["coesot"], (192, 384), 30, 56),
    "droptrack384-rgbx": ("rgbx", ["visevent", "depthtrack", "lasher"],
                          ["lasher", "rgbt234", "depthtrack", "vot_rgbd22", "visevent"], (192, 384), 40, 56),
}
CHECKPOINTS = ("OSTrack_ep0300.pth.tar", "DropTrack_k700_800E_alldata.pth.tar")


def test_every_setting_file_is_tested() -> None:
    shipped = {p.stem for p in PAPER.glob("*.yaml")} - {"common", "site.example", "grid-ablation", "grid-paradigms",
                                                          "grid-released"}
    assert shipped == set(SETTINGS)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A run folder as a user's: fixture benchmarks in their real layouts holding the lists the example
    site reads (LasHeR's own list files; a folder for every sequence of srtrack's builtin lists), the
    released checkpoints' names in pretrained_models/ with headers that name the tensors srtrack loads,
    and config/paper/site.example.yaml as shipped, only its roots replaced."""
    import torch

    from srtrack.datasets import create_reader
    from srtrack.errors import ProblemLog

    run = tmp_path_factory.mktemp("paper")
    example = yaml.safe_load((PAPER / "site.example.yaml").read_text())
    for name in example["datasets"]:
        root = run / "data" / name
        layouts.BUILDERS[name](root, "s1", 4)
        example["datasets"][name]["root"] = str(root)
    layouts.got10k(run / "data" / "got10k", "v1", 4, folder="val")
    for list_file in ("trainingsetList.txt", "testingsetList.txt"):  # LasHeR ships them in its root
        layouts.write_lines(run / "data" / "lasher" / list_file, ["s1"])
    (run / "site.yaml").write_text(yaml.safe_dump(example))
    cfg = load_config(files(run, "droptrack384-rgbx"))
    for name in ("depthtrack", "visevent", "coesot", "fe108"):  # the builtin lists: their sequence folders
        reader = create_reader(name, cfg.datasets, list_frames=False)
        for split in reader.splits:
            for sequence in reader.sequence_names(split, ProblemLog())[0]:
                reader.sequence_dir(sequence).mkdir(parents=True, exist_ok=True)
    (run / "pretrained_models").mkdir()
    header = {f"backbone.{key}": torch.zeros(1) for key in ("patch_embed.proj.weight", "blocks.0.attn.qkv.weight",
                                                             "pos_embed_z", "pos_embed_x")}
    for name in CHECKPOINTS:  # a dry run reads only their headers
        torch.save({"net": header}, run / "pretrained_models" / name)
    return run


def files(site: Path, setting: str, *grids: str, common: bool = True, site_file: str = "site.yaml") -> list[Path]:
    return [DEFAULT_CONFIG, *([PAPER / "common.yaml"] if common else []), PAPER / f"{setting}.yaml",
            *(PAPER / f"grid-{g}.yaml" for g in grids), site / site_file]


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_paper_settings_validate_to_the_released_values(site: Path, setting: str) -> None:
    modality, train, tests, (template, search), epochs, batch = SETTINGS[setting]
    cfg = load_config(files(site, setting))
    study = Study(cfg)
    assert study.tuned_modalities() == [modality] and study.tune_datasets(modality) == (
        train if isinstance(train, list) else [train])
    assert study.eval_datasets(modality) == tests
    assert (cfg.model.name, cfg.model.template_size, cfg.model.search_size) == ("srtrack_base", template, search)
    assert (cfg.train.epochs, cfg.train.samples_per_epoch, cfg.train.global_batch) == (epochs, 80000, batch)
    assert (cfg.train.grad_clip, cfg.train.released_lr_override) == (0.1, False)
    # the intended per-group LRs; FE108's commented column trains the X stream faster than the RGB stream
    fe108 = train == "fe108"
    assert (cfg.train.lr.blocks, cfg.train.lr.blocks_x) == ((2e-5, 1e-4) if fe108 else (1e-4, None))
    assert (cfg.train.lr.embeddings, cfg.train.lr.embeddings_x) == ((1e-5, 5e-5) if fe108 else (5e-5, None))
    droptrack = setting.startswith("droptrack")
    assert Path(cfg.model.pretrained).name == CHECKPOINTS[droptrack]
    assert cfg.sampler.search_factor == (5.0 if droptrack else 4.0)
    assert (cfg.model.pos_embed_from is not None) == setting.startswith("ostrack384")
    assert [r.label.name for r in study.tuning_runs()] == ["full", "srft"]


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "grids", "labels"), [
    *((s, (), 2) for s in sorted(SETTINGS)),
    ("ostrack256-rgbt", ("ablation",), 7),
    ("droptrack384-rgbd", ("paradigms",), 6),
    ("ostrack256-rgbt", ("released",), 2),
])
def test_paper_dags_resolve_with_the_paper_jobs_and_gpu_requests(site: Path, setting: str, grids, labels) -> None:
    modality, train, tests, *_ = SETTINGS[setting]
    dry = snakemake(files(site, setting, *grids), site, "-n")
    text = dry.stdout + dry.stderr
    assert dry.returncode == 0, text[-3000:]
    counts = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", text, flags=re.MULTILINE)}
    # the prior, each label once (one seed); one job per tuned tracker and one for the untuned tracker, each
    # scoring every test benchmark and GOT-10k val; the RGB tracker on GOT-10k val; no synthetic data, no pre-training
    trains = len(train) if isinstance(train, list) else 1   # the joint setting mixes three training splits
    scoring = f"evaluate_{modality}"
    expected = {"synth": 0, "pretrain": 0, "sensitivity": 1, "prepare": 2 + trains + len(tests), "tune": labels,
                scoring: labels + 1, "retention": 1}
    assert {rule: counts.get(rule, 0) for rule in expected} == expected
    jobs = re.split(r"\n(?=\[.*\]\nrule |rule )", text)
    for rule in ("tune", scoring, "retention"):
        requests = [job for job in jobs if job.lstrip().startswith(f"rule {rule}:")]
        assert requests and all("gres=gpu:8" in job for job in requests), rule
    # the weights scored: those after the epoch the released test script names (evaluate.epoch), else the last
    epoch = load_config(files(site, setting, *grids)).evaluate.epoch
    scored = f"model-epoch{epoch}.pth" if epoch else "/model.pth"
    tuned = [job for job in jobs if job.lstrip().startswith(f"rule {scoring}:") and "label=pretrained" not in job]
    assert len(tuned) == labels and all(scored in job for job in tuned)
    assert all(scored in job for job in jobs if job.lstrip().startswith("rule tune:"))


# every network the paper's configs train, at its real size: the two-stream ViT-B at both crop sizes, and
# the LoRA and prompt (ViPT) trackers of the paradigms table
PAPER_MODELS = [("ostrack256-rgbt", (), "full", "srtrack_base"), ("droptrack384-rgbt", (), "full", "srtrack_base"),
                ("droptrack384-rgbt", ("paradigms",), "lora", "srtrack_lora_base"),
                ("droptrack384-rgbt", ("paradigms",), "prompt", "vipt_base")]


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "grids", "label", "model"), PAPER_MODELS)
def test_one_training_step_of_each_paper_model_at_its_real_size(site: Path, smoke_data: Path, tmp_path: Path,
                                                                setting: str, grids, label: str, model: str) -> None:
    """The tune CLI's own run resolution and set-up with the paper's files, one step of one pair on CPU
    (random weights: the released checkpoints are not in the repository)."""
    import math

    import torch

    from srtrack import tune
    from srtrack.train import distributed
    from srtrack.train.loop import Trainer

    one_pair = ["train.global_batch=1", "train.samples_per_epoch=1", "train.micro_batch=null", "train.probe_samples=0",
                "model.pretrained=null", f"datasets.lasher.root={smoke_data / 'synthetic/lasher'}"]
    args = tune.build_parser().parse_args([
        *(arg for path in files(site, setting, *grids) for arg in ("--config", str(path))),
        *(arg for value in one_pair for arg in ("--set", value)),
        "--modality", "rgbt", "--label", label, "--data", str(smoke_data / "results/data/lasher-train"),
        "--allow-random-init", "--workers", "0", "--out", str(tmp_path)])
    cfg, resolved, init = tune.resolve_run(args)
    assert cfg.model.name == model
    setup, _, _ = tune.build_setup(cfg, args, cfg.model.name, resolved.method, "rgbt", args.data, init)
    trainer = Trainer(setup, distributed.detect(), torch.device("cpu"))
    before = {name: p.detach().clone() for name, p in trainer.params.items()}
    batch = next(trainer.batches())
    size = SETTINGS[setting][3][1]
    assert batch["search"].shape == (1, 6, size, size)
    stats = trainer.train_step(batch)
    assert math.isfinite(stats["loss/task"]) and math.isfinite(stats["train/grad_norm"]) and stats["train/grad_norm"] > 0
    assert all(p.grad is not None for p in trainer.params.values()), "every trainable tensor is in the graph"
    # LoRA's A gets no gradient while B is still zero (its initialisation), so the first step moves B only
    movable = [name for name in before if not name.endswith("lora_A")]
    moved = [name for name in movable if not torch.equal(trainer.params[name].detach(), before[name])]
    # stochastic depth may drop a whole residual branch of the single pair (zero gradients, no move)
    assert len(moved) >= 0.9 * len(movable), sorted(set(movable) - set(moved))
    trainable = sum(p.numel() for p in trainer.params.values())
    total = sum(p.numel() for p in trainer.model.parameters())
    # full fine-tuning trains the network (199.6 M of 206.4 M: the frozen patch embeddings' copies aside);
    # LoRA and prompts train a few million parameters of the same ViT-B
    assert total > 80e6 and (trainable > 0.9 * total if label == "full" else trainable < 0.1 * total)


def test_the_paper_settings_are_the_released_procedure(site: Path) -> None:
    """fp32 without TF32 unless a site opts in; the frozen head's BatchNorm in eval mode (FIX_BN);
    VisEvent and DepthTrack on the released split lists."""
    cfg = load_config(files(site, "ostrack256-visevent"))
    assert (cfg.train.precision, cfg.train.tf32, cfg.train.frozen_batchnorm) == ("fp32", False, "eval")
    assert {(d.train_list, d.test_list) for d in (cfg.datasets.visevent, cfg.datasets.depthtrack)} == {
        ("builtin", "builtin")}
    # grid-released.yaml: the released training exactly, beside the setting's own runs
    released = load_config(files(site, "ostrack256-rgbt", "released"))
    labels = {run.label.name: run.label for run in Study(released).tuning_runs()}
    assert sorted(labels) == ["full_released", "srft_released"]
    srft = load_config(released.sources, [*labels["srft_released"].assignments(), *released.overrides])
    assert (labels["srft_released"].method, srft.method.bug_compatible, srft.method.rank_method, srft.method.rank_every,
            srft.method.transfer_weight, srft.train.released_lr_override) == ("transfer_only", True, "exact", 1,
                                                                              "independent", True)
    full = load_config(released.sources, [*labels["full_released"].assignments(), *released.overrides])
    assert (labels["full_released"].method, full.train.released_lr_override, full.train.frozen_batchnorm,
            full.train.tf32, full.train.epochs) == ("full", True, "eval", False, 30)
    # the epoch each released test script scores (its --epoch default); the others score the last
    epochs = {setting: load_config(files(site, setting)).evaluate.epoch for setting in SETTINGS}
    assert {k: v for k, v in epochs.items() if v} == {"ostrack256-visevent": 8, "droptrack384-rgbx": 30,
                                                      "droptrack384-rgbe": 27}


# a broken site, as users write them: (the setting, what the site file changes, the message, plan only)
BROKEN_SITES = {
    "misspelt_root": ("ostrack256-rgbt", {"datasets": {"lasher": {"root": "/data/LasHer"}}},
                      r"site-broken.yaml:\d+: datasets.lasher.root: /data/LasHer is not a folder"),
    "missing_list_file": ("ostrack256-rgbt", {"datasets": {"lasher": {"train_list": "trainlist.txt"}}},
                          r"datasets.lasher.train_list: list file .*/lasher/trainlist.txt does not exist .*; srtrack "
                          r"ships the released train list of lasher: set datasets.lasher.train_list to builtin"),
    "missing_position_checkpoint": ("ostrack384-rgbt", {"model": {"pos_embed_from": "models/DropTrack.pth.tar"}},
                                    r"site-broken.yaml:\d+: model.pos_embed_from: models/DropTrack.pth.tar: not found"),
    "listed_benchmark_without_root": ("droptrack384-rgbx", {"datasets": {"visevent": {"root": None}}},
                                      r"droptrack384-rgbx.yaml:\d+: study.tune_data.rgbx lists visevent, but "
                                      r"datasets.visevent.root is not set"),
    "training_longer_than_the_partition": ("ostrack256-rgbd", {"resources": {"max_runtime_min": 1440}},
                                           r"resources.runtime_min is 2880 minutes, more than the partition's 1440"),
    "more_memory_than_a_node": ("ostrack256-rgbe", {"resources": {"node_mem_gb": 128}},
                                r"resources.mem_gb is 256 GB per node, more than a node has \(128 GB"),
    "a_prior_method_on_the_prompt_tracker": (
        "ostrack256-rgbt", {"study": {"methods": ["full", "srft_prompt"],
                                      "variants": {"srft_prompt": {"method": "srft", "set": {"model.name": "vipt_base"}}}}},
        r"label srft_prompt is srft on vipt_base, which trains only its prompts"),
    "an_unknown_gpu_type": ("ostrack256-rgbt", {"resources": {"gpu_type": "a100"}},
                            r"resources.gpu_type 'a100' is not a GPU the plan knows; use one of: a100-40gb, a100-80gb"),
}


def broken_site(site: Path, change: dict) -> str:
    from srtrack.config import deep_merge

    text = yaml.safe_dump(deep_merge(yaml.safe_load((site / "site.yaml").read_text()), change))
    (site / "site-broken.yaml").write_text(text)
    return "site-broken.yaml"


@pytest.mark.parametrize("case", sorted(BROKEN_SITES))
def test_the_plan_names_every_broken_site(site: Path, case: str, capsys, monkeypatch) -> None:
    from srtrack import plan

    setting, change, message = BROKEN_SITES[case]
    monkeypatch.chdir(site)  # relative checkpoint paths are relative to the run folder
    config = files(site, setting, site_file=broken_site(site, change))
    assert plan.main([a for path in config for a in ("--config", str(path))]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


def test_a_setting_without_its_common_settings_is_refused(site: Path, capsys) -> None:
    from srtrack import plan

    config = files(site, "ostrack256-rgbt", common=False)
    assert plan.main([a for path in config for a in ("--config", str(path))]) == 2
    assert re.search(r"ostrack256-rgbt.yaml:\d+: study.requires paper-common, which no merged layer provides",
                     capsys.readouterr().err)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["misspelt_root", "listed_benchmark_without_root", "a_prior_method_on_the_prompt_tracker"])
def test_snakemake_with_the_profile_stops_a_broken_site_before_anything_is_queued(site: Path, case: str,
                                                                                  tmp_path: Path) -> None:
    """The real snakemake and Slurm plugin with the shipped profile; `sbatch` on PATH records any call."""
    import os
    import subprocess
    import sys

    setting, change, message = BROKEN_SITES[case]
    config = files(site, setting, site_file=broken_site(site, change))
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text(f"#!/bin/sh\necho called >> {tmp_path / 'sbatch.calls'}\nexit 1\n")
    (fake / "sbatch").chmod(0o755)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{fake}:{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run([str(bin_dir / "snakemake"), "-s", str(REPO / "Snakefile"), "--profile", str(REPO / "slurm"),
                             "--configfile", *map(str, config)], cwd=site, capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.search(message, result.stderr) and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "sbatch.calls").exists(), "nothing may be submitted"
