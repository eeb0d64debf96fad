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
    shipped = {p.stem for p in PAPER.glob("*.yaml")} - {"common", "site.example", "grid-ablation", "grid-paradigms"}
    assert shipped == set(SETTINGS)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A run folder with fixture benchmarks in their real layouts, the released checkpoints' names in
    pretrained_models/, and a site file in the shape of config/paper/site.example.yaml."""
    run = tmp_path_factory.mktemp("paper")
    roots = {}
    for name in ("got10k", "lasher", "rgbt234", "depthtrack", "vot_rgbd22", "visevent", "coesot", "fe108"):
        roots[name] = run / "data" / name
        layouts.BUILDERS[name](roots[name], "s1", 4)
    layouts.got10k(roots["got10k"], "v1", 4, folder="val")
    (run / "pretrained_models").mkdir()
    for name in CHECKPOINTS:
        (run / "pretrained_models" / name).write_bytes(b"")  # only their paths matter to a dry run
    example = yaml.safe_load((PAPER / "site.example.yaml").read_text())
    example["datasets"] = {name: {"root": str(root), "train_list": "all", "test_list": "all"}
                           for name, root in roots.items()}
    example["mlflow"] = {"tracking_uri": f"sqlite:///{run / 'mlflow.db'}"}
    (run / "site.yaml").write_text(yaml.safe_dump(example))
    return run


def files(site: Path, setting: str, *grids: str) -> list[Path]:
    return [DEFAULT_CONFIG, PAPER / "common.yaml", PAPER / f"{setting}.yaml",
            *(PAPER / f"grid-{g}.yaml" for g in grids), site / "site.yaml"]


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
