"""`python -m srtrack.plan` and the network costs it plans with (srtrack/costs.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest


from conftest import DEFAULT_CONFIG, REPO
from srtrack.config import load_config
from srtrack.costs import network_cost, training_memory_gb
from srtrack.models.spec import spec_from_config
from srtrack.plan import main as plan_main

PAPER = REPO / "config" / "paper"


def cost(name: str, template: int, search: int):
    model = dataclasses.replace(load_config(DEFAULT_CONFIG).model, template_size=template, search_size=search)
    return network_cost(spec_from_config(model, name))


def test_costs_match_the_released_networks() -> None:
    # parameter counts of the method notes (computed from the released code): 206.4 M, 199.6 M trainable
    base = cost("srtrack_base", 128, 256)
    assert round(base.params / 1e6, 1) == 206.4 and round(base.trainable / 1e6, 1) == 199.6
    # OSTrack-256 with candidate elimination: 21.5 GMACs in its paper, i.e. 43 GFLOPs (2 per multiply-add)
    assert 40e9 < cost("ostrack_base", 128, 256).forward_flops < 48e9
    # two streams of 12 blocks plus 4 fusion blocks over twice the tokens (quadratic attention): about 2.6 x the
    # one-stream network without elimination (method notes: "about 2.3 x", a rough estimate)
    model = load_config(DEFAULT_CONFIG).model
    plain = dataclasses.replace(model, template_size=128, search_size=256,
                                candidate_elimination=dataclasses.replace(model.candidate_elimination, layers=()))
    assert 2.3 < base.forward_flops / network_cost(spec_from_config(plain, "ostrack_base")).forward_flops < 2.8
    big = cost("srtrack_base", 192, 384)
    # fused attention keeps no attention matrix: activations grow with the tokens (144 + 576 against 64 + 256)
    assert big.saved_bytes == pytest.approx(base.saved_bytes * 720 / 320, rel=0.02)
    assert big.saved_bytes_checkpointed < big.saved_bytes / 10
    assert training_memory_gb(big, "srft", 7, bf16=False, checkpointing=True) < training_memory_gb(
        big, "srft", 7, bf16=False, checkpointing=False) / 2


def site(tmp_path: Path, **resources) -> Path:
    """A site the pre-flight accepts: GOT-10k, LasHeR (with its list files) and RGBT234 fixtures, and a
    checkpoint whose header names a tracker's tensors."""
    import torch

    import layouts

    roots = {name: tmp_path / "data" / name for name in ("got10k", "lasher", "rgbt234")}
    if not roots["lasher"].exists():
        layouts.got10k(roots["got10k"], "s1", 4)
        layouts.got10k(roots["got10k"], "v1", 4, folder="val")
        layouts.lasher(roots["lasher"], "s1", 4)
        layouts.rgbt234(roots["rgbt234"], "s1", 4)
        for list_file in ("trainingsetList.txt", "testingsetList.txt"):
            layouts.write_lines(roots["lasher"] / list_file, ["s1"])
        torch.save({"net": {"backbone.patch_embed.proj.weight": torch.zeros(1)}}, tmp_path / "DropTrack.pth.tar")
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps({"mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                                "datasets": {name: {"root": str(root)} for name, root in roots.items()},
                                "model": {"pretrained": str(tmp_path / "DropTrack.pth.tar")},
                                "resources": resources}))
    return path


def plan(tmp_path: Path, capsys, *extra: str, **resources) -> tuple[int, str]:
    files = [DEFAULT_CONFIG, PAPER / "common.yaml", PAPER / "droptrack384-rgbt.yaml", site(tmp_path, **resources)]
    code = plan_main([a for path in files for a in ("--config", str(path))] + list(extra))
    return code, capsys.readouterr().out


def test_the_paper_plan_lists_jobs_gpu_hours_and_memory(tmp_path: Path, capsys) -> None:
    code, text = plan(tmp_path, capsys, gpu_type="a100-80gb")
    assert code == 0 and ("jobs: prepare 5, sensitivity 1, tune 2, evaluate 3, retention 1, compare 3, report 1 "
                          "(tracking runs: 6 on test splits, 4 on RGB)") in text
    # every rule with what it asks Slurm for (the paper's common settings: 8 GPUs, 256 GB, 48 h)
    assert "| tune | 2 | default | gpu:8 | 256.0 GB, x attempt | 2880 min |" in text
    assert "| prepare | 5 | default | - | 2.0 GB | 30 min |" in text
    # the prior's job from its estimate for ViT-B at 192 / 384, chunk 4, 256 samples on 8 CPUs: more than the
    # 8.85 GiB a CPU extraction was seen to pass, and more than the 20 minutes it was seen to need
    memory, minutes = re.search(r"^\| sensitivity \| 1 \| default \| - \| ([\d.]+) GB, x attempt \| (\d+) min \|$", text,
                                flags=re.MULTILINE).groups()
    assert 8.85 * 1.074 < float(memory) < 64 and 20 < int(minutes) < 24 * 60
    rows = re.findall(r"^\| rgbt/(\w+)/seed2023 \| srtrack_base \| (\d+) \| (\d+) \| fp32 \| ([\d.]+) \| yes \| ([\d.]+) "
                      r"\| (\d+) \| (\d+) \| ([\d.]+) \|$", text, flags=re.MULTILINE)
    # 20 epochs of 80,000 at a global batch of 56 on 8 GPUs: 28,560 steps of 7 pairs per GPU
    assert [r[:3] for r in rows] == [("full", "28560", "7"), ("srft", "28560", "7")]
    full, srft = (float(r[3]) for r in rows)
    assert 10 < full < srft < 80 * 0.9   # SRFT also keeps theta_0 and the transfer window
    # evaluate.batch auto: as many sequences per tracking process as 80 GB x 90 % hold (none prepared yet)
    batch, tracking = int(rows[0][6]), float(rows[0][7])
    assert batch > 16 and 0.9 * 72 < tracking <= 72
    # the paper settings train in plain fp32 (no TF32): the non-tensor-core peak
    assert "step time: FLOPs at 35% of the plain fp32 peak, 19.5 TFLOP/s" in text and "training total:" in text
    # with TF32 on, the TF32 tensor-core peak, and a job estimated longer than its time limit is flagged
    code, text = plan(tmp_path, capsys, "--set", "train.tf32=true", "--set", "resources.runtime_min=60",
                      gpu_type="a100-80gb")
    assert "FLOPs at 35% of the TF32 tensor-core peak, 156 TFLOP/s" in text
    assert re.search(r"WARNING: rgbt/full/seed2023 needs about [\d.]+ h, more than its time limit "
                     r"\(resources.runtime_min 60 min, stopping 10 min before it\): about \d+ submissions", text), text


def test_a_job_that_does_not_fit_is_reported_with_fixes_that_fit(tmp_path: Path, capsys) -> None:
    small = {"gpus_per_node": 2, "gpu_mem_gb": 24, "gpu_type": "rtx3090"}
    code, text = plan(tmp_path, capsys, **small)
    assert code == 1 and "| NO |" in text
    micro = int(re.search(r"rgbt/srft/seed2023 does not fit in 24 GB x 90%: train.micro_batch: (\d+)", text)[1])
    assert "train.activation_checkpointing: true" in text
    fixed, text = plan(tmp_path, capsys, "--set", f"train.micro_batch={micro}", **small)
    assert fixed == 0 and "| NO |" not in text


def test_a_calibration_file_gives_the_step_time(tmp_path: Path, capsys) -> None:
    calibration = tmp_path / "gpu.json"
    calibration.write_text(json.dumps({"entries": [
        {"gpu_type": "a100-80gb", "network": "srtrack_base", "template_size": 192, "search_size": 384,
         "precision": "fp32", "activation_checkpointing": False, "seconds_per_sample": 0.02}]}))
    code, text = plan(tmp_path, capsys, "--calibration", str(calibration), gpu_type="a100-80gb")
    assert code == 0 and "step time: measured (calibration)" in text
    # 28,560 steps x 56 samples x 0.02 s per sample per GPU / 8 GPUs = 1.11 h per job, 8.9 GPU-hours
    assert "| 1.1 | 9 |" in text
    assert "\\* peak memory" not in text   # no measured peaks in that file: the memory is counted
    # measured peaks (the GPU benchmark writes them): 20 GiB at 4 pairs, 1.5 GiB more per pair; at 7 pairs per
    # GPU full fine-tuning needs 24.5 GiB, SRFT 12 bytes more per trainable parameter (theta_0, window)
    entry = json.loads(calibration.read_text())["entries"][0]
    calibration.write_text(json.dumps({"entries": [{**entry, "batch": 4, "peak_gib": 20.0, "peak_gib_per_sample": 1.5}]}))
    code, text = plan(tmp_path, capsys, "--calibration", str(calibration), gpu_type="a100-80gb")
    full = 24.5 * 2**30 / 1e9
    assert code == 0 and f"| rgbt/full/seed2023 | srtrack_base | 28560 | 7 | fp32 | {full:.1f}* |" in text
    assert f"| rgbt/srft/seed2023 | srtrack_base | 28560 | 7 | fp32 | {full + 199.6e6 * 12 / 1e9:.1f}* |" in text
    assert "\\* peak memory from the GPU's measured peaks" in text
    calibration.write_text("{}")
    assert plan(tmp_path, capsys, "--calibration", str(calibration))[0] == 2


def test_a_gpu_dag_prints_and_writes_its_plan_when_it_starts(tmp_path: Path, tmp_config, capsys) -> None:
    from srtrack.plan import print_plan

    roots = {"got10k": {"root": str(tmp_path)}, "lasher": {"root": str(tmp_path)}}
    cpu = load_config(tmp_config({"datasets": roots}))
    print_plan(cpu)   # the CPU default: nothing to plan GPUs for
    assert not (cpu.study.output_dir / "plan.md").exists() and capsys.readouterr().err == ""
    gpu = load_config(tmp_config({"datasets": roots, "resources": {"gpus_per_node": 2, "gpu_mem_gb": 40,
                                                                   "gpu_type": "a100-40gb"}}))
    print_plan(gpu)
    written = (gpu.study.output_dir / "plan.md").read_text()
    assert written in capsys.readouterr().err and "| rgbt/srft/seed0 | srtrack_tiny | 40 | 8 | bf16 |" in written


def test_auto_lockstep_batches_follow_the_gpu_memory_and_the_sequences_per_process() -> None:
    import dataclasses

    from srtrack.costs import MEMORY_HEADROOM, inference_memory_gb, network_cost
    from srtrack.errors import ConfigError
    from srtrack.evaluation.runner import AUTO_CPU_BATCH, lockstep_batch
    from srtrack.models.spec import spec_from_config

    cfg = load_config(DEFAULT_CONFIG)
    auto = dataclasses.replace(cfg, evaluate=dataclasses.replace(cfg.evaluate, batch="auto"))
    spec = spec_from_config(dataclasses.replace(cfg.model, template_size=192, search_size=384), "srtrack_base")
    assert lockstep_batch(cfg, spec, 100, 1, 80.0) == cfg.evaluate.batch   # a number is used as it is
    assert lockstep_batch(auto, spec, 100, 4, None) == AUTO_CPU_BATCH and lockstep_batch(auto, spec, 6, 2, None) == 3
    big = lockstep_batch(auto, spec, 10**6, 8, 80.0)
    cost = network_cost(spec)
    assert inference_memory_gb(cost, big, bf16=False) <= 80 * MEMORY_HEADROOM < inference_memory_gb(cost, big + 1, bf16=False)
    assert lockstep_batch(auto, spec, 180, 8, 80.0) == 23   # GOT-10k val over 8 GPUs: one batch per process
    with pytest.raises(ConfigError, match="does not fit in 0.5 GB"):
        lockstep_batch(auto, spec, 10, 1, 0.5)
