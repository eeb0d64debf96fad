"""Fast unit tests of the training pieces: launcher detection, schedules, LR scaling, data
sharding, micro-batches, RNG capture, checkpoint keys."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from conftest import DEFAULT_CONFIG
from srtrack.config import load_config
from srtrack.errors import ConfigError, ResumeError
from srtrack.method.regularizers import REGULARIZERS
from srtrack.models import create_tracker
from srtrack.train.data import RankBatchSampler, micro_batches
from srtrack.train.distributed import DistEnv, backend_for, detect, first_host
from srtrack.train.loop import micro_batch_seed
from srtrack.train.optim import build_optimizer, lr_scale, schedule_factor, schedule_varies
from srtrack.train.state import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from srtrack.study import PRIOR_METHODS

CFG = load_config(DEFAULT_CONFIG)


def test_launcher_detection_torchrun_srun_and_a_plain_batch_step() -> None:
    torchrun = detect({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "n1", "MASTER_PORT": "2950"})
    assert torchrun == DistEnv(3, 4, 1, "torchrun", "n1", 2950)
    srun = detect({"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "1234",
                   "SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_NTASKS": "8"})
    assert (srun.rank, srun.world_size, srun.local_rank, srun.launcher) == (5, 8, 1, "srun")
    assert srun.master_addr == "gpu07" and srun.master_port == 21234
    # the batch script of an 8-task job runs python without srun: one process, not rank 0 of 8
    assert detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_JOB_ID": "1"}) == DistEnv()
    assert detect({}) == DistEnv() and not DistEnv().distributed


def test_first_host_of_a_nodelist_without_scontrol() -> None:
    assert first_host("node[01-04,07],gpu3") in ("node01",)
    assert first_host("single") == "single"


def test_backend_choice() -> None:
    assert backend_for("auto", cuda=False) == "gloo" and backend_for("auto", cuda=True) == "nccl"
    with pytest.raises(ConfigError, match="nccl but no CUDA"):
        backend_for("nccl", cuda=False)


def test_schedules_warmup_step_and_cosine() -> None:
    step = schedule_factor(dataclasses.replace(CFG.train.schedule, kind="step", drop_epoch=2, warmup_steps=0), 10, 50)
    assert [step(s) for s in (0, 19, 20, 49)] == [1.0, 1.0, pytest.approx(0.1), pytest.approx(0.1)]
    cosine = schedule_factor(dataclasses.replace(CFG.train.schedule, kind="cosine", warmup_steps=10), 10, 110)
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.5) and cosine(110) == pytest.approx(0.0, abs=1e-12)
    constant = schedule_factor(dataclasses.replace(CFG.train.schedule, kind="constant", warmup_steps=0), 10, 50)
    assert {constant(s) for s in range(50)} == {1.0}


def test_rates_are_a_metric_series_only_when_the_schedule_changes_them() -> None:
    schedule = CFG.train.schedule
    assert not schedule_varies(dataclasses.replace(schedule, kind="step", drop_epoch=5, warmup_steps=0), 10, 50)
    assert schedule_varies(dataclasses.replace(schedule, kind="step", drop_epoch=4, warmup_steps=0), 10, 50)
    assert schedule_varies(dataclasses.replace(schedule, kind="constant", warmup_steps=3), 10, 50)
    assert not schedule_varies(dataclasses.replace(schedule, kind="constant", warmup_steps=0), 10, 50)
    assert schedule_varies(dataclasses.replace(schedule, kind="cosine", warmup_steps=0), 10, 50)


def test_param_groups_carry_the_configured_and_scaled_lrs() -> None:
    model = create_tracker("srtrack_tiny", template_size=64, search_size=128)
    optimizer = build_optimizer(model, CFG.train)
    rates = {g["name"]: g["lr"] for g in optimizer.param_groups}
    # SRTrack freezes the head and the position embeddings, as the released code does
    # the X stream's blocks and patch embedding are groups of their own, at the RGB side's rates by default
    # (the embedded default's rates: 16 x the released ones)
    assert rates == {"embeddings": 8e-4, "embeddings_x": 8e-4, "blocks": 1.6e-3, "blocks_x": 1.6e-3, "fusion": 8e-4,
                     "norms": 1.6e-5}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(trainable) < len(list(model.parameters()))
    scaled = dataclasses.replace(CFG.train, global_batch=64, lr_reference_batch=32)
    assert lr_scale(scaled) == 2.0
    assert {g["name"]: g["lr"] for g in build_optimizer(model, scaled).param_groups}["blocks"] == pytest.approx(3.2e-3)
    released = dataclasses.replace(CFG.train, released_lr_override=True)
    assert CFG.train.fused_adamw and CFG.train.tf32   # the CUDA defaults
    assert {g["name"]: g["lr"] for g in build_optimizer(model, released).param_groups} == dict.fromkeys(rates, 1e-6)
    # FE108's released comment: the X side faster than the RGB side
    fe108 = dataclasses.replace(CFG.train, lr=dataclasses.replace(CFG.train.lr, blocks=2e-5, blocks_x=1e-4,
                                                                  embeddings=1e-5, embeddings_x=5e-5))
    split = {g["name"]: g["lr"] for g in build_optimizer(model, fe108).param_groups}
    assert split == {**rates, "blocks": 2e-5, "blocks_x": 1e-4, "embeddings": 1e-5, "embeddings_x": 5e-5}
    x_params = {id(p) for n, p in model.named_parameters() if n.startswith(("backbone.blocks_x.", "backbone.patch_embed_x."))}
    groups = {g["name"]: {id(p) for p in g["params"]} for g in build_optimizer(model, fe108).param_groups}
    assert groups["blocks_x"] | groups["embeddings_x"] == x_params


@pytest.mark.parametrize("world", [1, 2, 4])
def test_ranks_split_every_global_batch_exactly(world: int) -> None:
    cfg = dataclasses.replace(CFG.train, global_batch=8, samples_per_epoch=40)
    per_rank = [list(RankBatchSampler(cfg, r, world)) for r in range(world)]
    for step in range(5):
        assert sorted(i for r in range(world) for i in per_rank[r][step]) == [(0, i) for i in range(step * 8, step * 8 + 8)]
    resumed = list(RankBatchSampler(cfg, 0, world, first_step=3))
    assert resumed == per_rank[0][3:]
    # over a whole run: epoch 1 repeats epoch 0's sample numbers, tagged with its epoch
    run = list(RankBatchSampler(cfg, 0, world, first_step=3, last_step=12))
    assert len(run) == 9 and run[:2] == per_rank[0][3:]
    assert run[2] == [(1, i) for e, i in per_rank[0][0]] and run[-1] == [(2, i) for e, i in per_rank[0][1]]
    with pytest.raises(ConfigError, match="does not split evenly over 3 ranks"):
        RankBatchSampler(cfg, 0, 3)


def test_micro_batches_cover_the_batch_in_order() -> None:
    batch = {"search": torch.arange(10), "x": torch.arange(10) * 2}
    parts = micro_batches(batch, 4)
    assert [p["search"].tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(micro_batches(batch, None)) == 1
    assert len({micro_batch_seed(0, s, i) for s in range(20) for i in range(4)}) == 80


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path) -> None:
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    save_checkpoint(tmp_path / "c.pt", {"run_key": "k", "rng": capture_rng()})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng(load_checkpoint(tmp_path / "c.pt", "k")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    with pytest.raises(ResumeError, match="written by a run with other settings"):
        load_checkpoint(tmp_path / "c.pt", "other")


def test_workflow_prior_methods_match_the_registry() -> None:
    assert PRIOR_METHODS == {name for name, cls in REGULARIZERS.items() if cls.uses_prior}


def test_the_methods_a_report_calls_ours_are_srft_and_its_parts() -> None:
    from srtrack.method.regularizers import SRFT
    from srtrack.study import SRFT_METHODS

    assert SRFT_METHODS == {name for name, cls in REGULARIZERS.items() if issubclass(cls, SRFT)}


@pytest.mark.parametrize("name", ["SIGTERM", "SIGUSR1", "SIGUSR2"])
def test_stop_request_records_slurm_signals_and_restores_handlers(name: str) -> None:
    import os
    import signal

    from srtrack.train.preemption import StopRequest

    sig = getattr(signal, name)
    before = signal.getsignal(sig)
    stop = StopRequest().install()
    try:
        assert not stop.requested
        os.kill(os.getpid(), sig)
        assert stop.requested and stop.name == name
        os.kill(os.getpid(), sig)  # a second signal keeps the first name
        assert stop.name == name
    finally:
        stop.uninstall()
    assert signal.getsignal(sig) is before


@pytest.mark.parametrize("text, seconds", [("7:00", 420.0), ("1:02:03", 3723.0), ("2-00:00:05", 172805.0),
                                           ("UNLIMITED", None), ("NOT_SET", None), ("", None)])
def test_squeue_time_left_is_read_in_every_form(text: str, seconds: float | None) -> None:
    from srtrack.train.preemption import parse_time_left

    assert parse_time_left(text) == seconds


def test_a_passed_deadline_is_a_stop_request_named_for_the_time_limit() -> None:
    import time

    from srtrack.train.preemption import TIME_LIMIT, StopRequest

    assert not StopRequest(deadline=time.monotonic() + 60).requested
    assert not StopRequest().requested
    stop = StopRequest(deadline=time.monotonic() - 1)
    assert stop.requested and stop.name == TIME_LIMIT


def test_the_fused_adamw_kernel_matches_the_default_one() -> None:
    """train.fused_adamw picks torch's fused kernel on CUDA; the same kernel runs on CPU, checked here."""
    torch.manual_seed(0)
    models = [create_tracker("srtrack_tiny", template_size=64, search_size=128).eval() for _ in range(2)]  # no drop-path
    models[1].load_state_dict(models[0].state_dict())
    start = [p.detach().clone() for p in models[0].parameters()]
    optimizers = [build_optimizer(models[0], CFG.train), build_optimizer(models[1], CFG.train, fused=True)]
    assert optimizers[1].defaults["fused"] and not optimizers[0].defaults.get("fused")
    batch = torch.randn(2, 6, 64, 64), torch.randn(2, 6, 128, 128)
    for _ in range(3):
        for model, optimizer in zip(models, optimizers):
            optimizer.zero_grad()
            model(*batch)["pred_boxes"].square().sum().backward()
            optimizer.step()
    # 3 steps of up to lr (1.6e-3) each; the two kernels differ only in rounding
    gap = max((a - b).abs().max().item() for a, b in zip(models[0].parameters(), models[1].parameters()))
    moved = max((a - b).abs().max().item() for a, b in zip(models[0].parameters(), start))
    assert gap < 1e-3 * moved


def test_the_run_key_ignores_how_pairs_are_loaded_but_not_which_pairs() -> None:
    from srtrack.tune import run_key

    def key(**sampler) -> str:
        cfg = dataclasses.replace(CFG, sampler=dataclasses.replace(CFG.sampler, **sampler))
        return run_key(cfg, network={"name": "srtrack_tiny"}, method="srft", modality="rgbt", indexes=[],
                       init_sha256=None, prior_sha256=None)

    assert key() == key(workers=8, cache_mb=8192, pin_memory=False, persistent_workers=False)   # a resume may change them
    assert key() != key(search_factor=5.0)
