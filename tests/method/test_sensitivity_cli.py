"""`python -m srtrack.sensitivity` through its real entry point on synthetic RGB data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from conftest import DEFAULT_CONFIG, SMOKE
from srtrack import prepare, sensitivity
from srtrack.models import create_tracker
from srtrack.synth.__main__ import main as synth_main



@pytest.mark.slow
def test_sensitivity_cli_writes_artifact_plots_mlflow_and_reuses_its_cache(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["--config", str(DEFAULT_CONFIG), "--config", str(SMOKE), "--set", "sensitivity.samples=16",
            "--set", "sensitivity.chunk=8"]
    assert synth_main([*base, "--only", "got10k"]) == 0
    data = tmp_path / "results/smoke/data/got10k-train"
    assert prepare.main([*base, "--dataset", "got10k", "--split", "train", "--out", str(data)]) == 0
    out = tmp_path / "prior"
    assert sensitivity.main([*base, "--data", str(data), "--out", str(out)]) == 2  # no checkpoint, no flag
    assert "no pretrained tracker: pass --checkpoint" in capsys.readouterr().err

    # a real OSTrack-format checkpoint of the RGB counterpart (ostrack_tiny) at random weights
    checkpoint = tmp_path / "rgb.pth.tar"
    torch.save({"net": create_tracker("ostrack_tiny", template_size=64, search_size=128).state_dict()}, checkpoint)
    args = [*base, "--data", str(data), "--out", str(out), "--checkpoint", str(checkpoint)]
    assert sensitivity.main(args) == 0
    tensors = load_file(out / "prior.safetensors")
    assert tensors["backbone.blocks.0.attn.qkv.weight.out_vectors"].shape == (576, 8)
    assert tensors["backbone.blocks.3.mlp.fc2.weight.in_vectors"].shape == (768, 8)
    assert (tensors["backbone.patch_embed.proj.weight.fisher"] >= 0).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == 16 and summary["model"] == "ostrack_tiny" and not summary["load_report"]["missing"]
    assert (out / "fisher_layers.png").is_file() and (out / "fisher_heatmap.png").is_file()
    client = MlflowClient(f"sqlite:///{tmp_path / 'results/smoke/mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("srtrack").experiment_id], "tags.stage = 'sensitivity'")
    assert run.data.metrics["samples"] == 16 and run.data.tags["cache_key"] == summary["cache_key"]

    before = (out / "prior.safetensors").stat().st_mtime_ns
    assert sensitivity.main(args) == 0
    assert "cached result" in capsys.readouterr().err and (out / "prior.safetensors").stat().st_mtime_ns == before
    assert sensitivity.main([*args, "--set", "sensitivity.rank=4"]) == 0  # another k: recomputed
    assert load_file(out / "prior.safetensors")["backbone.blocks.0.attn.qkv.weight.out_vectors"].shape == (576, 4)
