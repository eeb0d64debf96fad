"""Released files load as downloaded and our networks compute what the official ones compute.

The reference forwards are tests/official_reference.py (written from the official definitions, on
official key names); weights are random, seeded and perturbed, at ViT-B depth with a small width.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from official_reference import finetune_track_positions, one_stream, two_stream, vipt
from srtrack.config import load_config
from srtrack.errors import CheckpointError
from srtrack.models.checkpoints import load_pretrained
from srtrack.models.elimination import keep_rate
from srtrack.models.files import read_checkpoint, save_tracker
from srtrack.models.networks import network_for
from srtrack.models.spec import NetworkSpec, spec_from_config

DIMS = {"embed_dim": 64, "depth": 12, "num_heads": 2, "head_channels": 32}
TOL = 4e-6
CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"


def model_cfg(**model):
    cfg = load_config(CONFIG)
    import dataclasses

    return dataclasses.replace(cfg.model, template_size=128, search_size=256, **model)


def perturbed(state: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Random weights of the right shapes: LayerNorm scales near 1, the rest small and varied."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if not value.is_floating_point():
            out[key] = value
        elif key.endswith(("norm1.weight", "norm2.weight", "norm.weight", "norm_rgb.weight", "norm_x.weight")) or \
                "prompt_norms" in key and key.endswith("weight") or key.endswith("running_var"):
            out[key] = 1 + 0.1 * torch.randn(value.shape, generator=gen)
        elif key.endswith("fovea.smooth"):
            out[key] = torch.tensor([10.0]) + torch.randn(1, generator=gen)
        else:
            out[key] = 0.05 * torch.randn(value.shape, generator=gen)
    return out


def spec(name: str, **kw) -> NetworkSpec:
    return NetworkSpec(name, 128, 256, dims=dict(DIMS), **kw)


def inputs(channels: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, channels, 128, 128, generator=gen), torch.randn(2, channels, 256, 256, generator=gen)


def droptrack_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A DropTrack `net`: one-stream OSTrack keys, temporal embeddings, cls_token, a ViT pos_embed."""
    state = perturbed(spec("ostrack_base", temporal_pos_embed=True).build().state_dict(), seed)
    state["backbone.cls_token"] = torch.randn(1, 1, 64)
    state["backbone.pos_embed"] = torch.randn(1, 197, 64)
    return state


def siamtrack_mapping(one: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """build_siamtrack(_dropmae)'s copy of a one-stream file into the two-stream names (official)."""
    out = {}
    for key, value in one.items():
        if "backbone.patch_embed." in key:
            out[key.replace("patch_embed.", "patch_embed_rgb.")] = out[key.replace("patch_embed.", "patch_embed_event.")] = value
        elif "backbone.norm." in key:
            out[key.replace("norm.", "norm_rgb.")] = out[key.replace("norm.", "norm_event.")] = value
        elif "backbone.blocks." in key:
            out[key.replace("blocks.", "blocks_rgb.")] = out[key.replace("blocks.", "blocks_event.")] = value
            index = int(key.split(".")[2])
            if index in (2, 5, 8, 11):
                out[key.replace(f"blocks.{index}.", f"blocks_cross.{(2, 5, 8, 11).index(index)}.")] = value
        else:
            out[key] = value
    return out


def released_two_stream(ours: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our two-stream names as the SRTrack repository names them (+ its unused cls_token)."""
    renamed = {k.replace("patch_embed_x.", "patch_embed_event.").replace("blocks_x.", "blocks_event.")
               .replace("blocks_fusion.", "blocks_cross.").replace("norm_x.", "norm_event."): v for k, v in ours.items()}
    return {**renamed, "backbone.cls_token": torch.zeros(1, 1, 64)}


class Settings:
    """Stands for the trainer's settings object saved in released files."""

    def __init__(self):
        self.env, self.batchsize = {"workspace_dir": "/x"}, 32


class AverageMeter:
    def __init__(self):
        self.avg, self.count = 0.1, 3


def pytracking_file(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """A file as the OSTrack-family trainers save it: `net` beside Python objects of the training code."""
    torch.save({"net": state, "epoch": 300, "settings": Settings(), "net_type": "OSTrack",
                "stats": collections.OrderedDict(train=collections.OrderedDict(Loss=AverageMeter()))}, path)
    return path


@torch.no_grad()
def backbone(model, z, x):
    return model.eval().backbone(z, x)


# -- 1. DropTrack's temporal embeddings ----------------------------------------------------------

def test_droptrack_temporal_embeddings_are_added_in_one_and_two_streams(tmp_path: Path) -> None:
    state = droptrack_state()
    path = pytracking_file(tmp_path / "DropTrack_k700_800E_alldata.pth.tar", state)
    z, x = inputs(3)
    one = spec_from_config(model_cfg(), "ostrack_base", state, **DIMS)
    assert one.temporal_pos_embed
    model = one.build()
    report = load_pretrained(model, read_checkpoint(path))
    assert report.ignored == ["backbone.cls_token", "backbone.pos_embed"] and not report.missing
    expected = one_stream(state, z, x, depth=12, heads=2, ce_loc=(3, 6, 9), keep=0.7, temporal=True)
    assert (backbone(model, z, x) - expected).abs().max() < TOL
    # both streams of SRTrack's DropTrack variant
    two = spec_from_config(model_cfg(), "srtrack_base", state, **DIMS)
    model2 = two.build()
    load_pretrained(model2, read_checkpoint(path))
    z6, x6 = inputs(6, seed=1)
    reference = two_stream(siamtrack_mapping(state), z6, x6, depth=12, heads=2, temporal=True)
    assert (backbone(model2, z6, x6) - reference).abs().max() < TOL
    # ignoring them (the former behaviour) changes the output
    plain = spec_from_config(model_cfg(temporal_pos_embed="ignore"), "srtrack_base", state, **DIMS).build()
    assert "backbone.temporal_pos_embed_z" in load_pretrained(plain, read_checkpoint(path)).ignored
    assert (backbone(plain, z6, x6) - reference).abs().max() > 1e-3


# -- 2. SRTrack-trained and ViPT files -----------------------------------------------------------

def test_a_released_srtrack_file_loads_strictly_and_computes_the_official_forward(tmp_path: Path) -> None:
    ours = perturbed(spec("srtrack_base", temporal_pos_embed=True).build().state_dict(), 3)
    released = released_two_stream(ours)
    path = pytracking_file(tmp_path / "SRTrack_ep0030.pth.tar", released)
    model = spec_from_config(model_cfg(), "srtrack_base", released, **DIMS).build()
    report = load_pretrained(model, read_checkpoint(path), strict=True)
    assert report.source_format == "srtrack_release" and not report.missing and not report.unexpected
    assert report.ignored == ["backbone.cls_token"]
    assert report.renamed["backbone.blocks_event.* -> backbone.blocks_x.*"] == 12 * 12
    assert report.renamed["backbone.blocks_cross.* -> backbone.blocks_fusion.*"] == 4 * 12
    assert sorted(report.placeholders) == ["test_fidelity.AverageMeter", "test_fidelity.Settings"]
    z, x = inputs(6)
    assert (backbone(model, z, x) - two_stream(released, z, x, depth=12, heads=2, temporal=True)).abs().max() < TOL


def test_a_released_srtrack_file_equals_the_same_weights_through_the_ostrack_path(tmp_path: Path) -> None:
    one = perturbed(spec("ostrack_base").build().state_dict(), 4)
    torch.save({"net": one}, tmp_path / "OSTrack_ep0300.pth.tar")
    first = spec("srtrack_base").build()
    load_pretrained(first, read_checkpoint(tmp_path / "OSTrack_ep0300.pth.tar"))
    torch.save({"net": released_two_stream(first.state_dict())}, tmp_path / "released.pth.tar")
    second = spec("srtrack_base").build()
    report = load_pretrained(second, read_checkpoint(tmp_path / "released.pth.tar"))
    assert not report.missing and not report.unexpected
    z, x = inputs(6)
    with torch.no_grad():
        assert torch.equal(first.eval()(z, x)["pred_boxes"], second.eval()(z, x)["pred_boxes"])


def test_a_released_vipt_file_loads_strictly_and_computes_vipt_deep_with_ce(tmp_path: Path) -> None:
    ours = perturbed(spec("vipt_base", ce_layers=(3, 6, 9), ce_keep_ratio=0.7).build().state_dict(), 5)
    released = {**ours, "backbone.cls_token": torch.zeros(1, 1, 64), "backbone.pos_embed": torch.zeros(1, 197, 64)}
    path = pytracking_file(tmp_path / "ViPT_deep_rgbt.pth.tar", released)
    model = spec("vipt_base", ce_layers=(3, 6, 9), ce_keep_ratio=0.7).build()
    report = load_pretrained(model, read_checkpoint(path), strict=True)
    assert report.source_format == "ostrack" and not report.missing and not report.unexpected
    assert "backbone.prompt_blocks.0.fovea.smooth" in report.loaded
    z, x = inputs(6)
    expected = vipt(released, z, x, depth=12, heads=2, ce_loc=(3, 6, 9), keep=0.7)
    assert (backbone(model, z, x) - expected).abs().max() < TOL


def test_a_two_stream_file_cannot_initialise_a_one_stream_tracker(tmp_path: Path) -> None:
    torch.save({"net": released_two_stream(spec("srtrack_base").build().state_dict())}, tmp_path / "s.pth")
    with pytest.raises(CheckpointError, match="two-stream SRTrack checkpoint cannot initialise the one-stream"):
        load_pretrained(spec("ostrack_base").build(), read_checkpoint(tmp_path / "s.pth"))


# -- 3. files as downloaded, read safely ---------------------------------------------------------

class Payload:
    """What a hostile file could ask for on load."""

    def __init__(self, target: Path, how: str):
        self.target, self.how = str(target), how

    def __reduce__(self):
        import builtins
        import os

        if self.how == "system":
            return os.system, (f"touch {self.target}",)
        if self.how == "open":
            return builtins.open, (self.target, "w")
        return builtins.exec, (f"open({self.target!r}, 'w').write('x')",)


@pytest.mark.parametrize("how", ["system", "open", "exec"])
def test_nothing_in_a_file_is_ever_called(tmp_path: Path, how: str) -> None:
    target = tmp_path / "written-by-the-file"
    state = perturbed(spec("ostrack_base").build().state_dict(), 0)
    torch.save({"net": state, "settings": Payload(target, how)}, tmp_path / "hostile.pth.tar")
    try:
        checkpoint = read_checkpoint(tmp_path / "hostile.pth.tar")
        assert checkpoint.placeholders  # loaded: the payload became an inert placeholder
    except CheckpointError as exc:
        assert "refused: the file asks to run code" in str(exc) and "weights_only=False" not in str(exc)
    assert not target.exists()


def test_released_files_with_training_objects_load_as_they_are(tmp_path: Path) -> None:
    state = perturbed(spec("ostrack_base").build().state_dict(), 0)
    checkpoint = read_checkpoint(pytracking_file(tmp_path / "OSTrack_ep0300.pth.tar", state))
    assert set(checkpoint.state) == set(state) and checkpoint.network is None
    assert any(name.endswith("Settings") for name in checkpoint.placeholders)


def test_broken_files_are_named_and_no_unsafe_advice_is_given(tmp_path: Path) -> None:
    state = perturbed(spec("ostrack_base").build().state_dict(), 0)
    (tmp_path / "empty.pth").write_bytes(b"")
    torch.save({"net": state}, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    bad = dict(state)
    bad["backbone.blocks.0.mlp.fc1.weight"] = bad["backbone.blocks.0.mlp.fc1.weight"] * float("nan")
    torch.save({"net": bad}, tmp_path / "nan.pth")
    for name, message in (("empty.pth", "the file is empty"), ("truncated.pth", "truncated or not a PyTorch"),
                          ("nan.pth", "1 tensor\\(s\\) hold NaN or infinite values \\(first: backbone.blocks.0.mlp.fc1")):
        with pytest.raises(CheckpointError, match=message) as info:
            read_checkpoint(tmp_path / name)
        assert "weights_only=False" not in str(info.value)


# -- 4. MAE / ViT position embeddings ------------------------------------------------------------

def sincos_table(grid: int, dim: int) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos position embedding with a class token (get_2d_sincos_pos_embed)."""
    def one_d(d: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    gw, gh = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32))
    table = np.concatenate([one_d(dim // 2, gh), one_d(dim // 2, gw)], axis=1)
    return torch.from_numpy(np.concatenate([np.zeros([1, dim]), table])).float()[None]


def test_vit_position_embeddings_are_resampled_as_finetune_track(tmp_path: Path) -> None:
    vit = {k[len("backbone."):]: v for k, v in perturbed(spec("ostrack_base").build().state_dict(), 0).items()
           if k.startswith("backbone.") and "pos_embed_" not in k}
    vit["pos_embed"] = sincos_table(14, 64)
    torch.save({"model": vit}, tmp_path / "mae_pretrain_vit_base.pth")
    model = spec("ostrack_base").build()
    load_pretrained(model, read_checkpoint(tmp_path / "mae_pretrain_vit_base.pth"))
    z_ref, x_ref = finetune_track_positions(vit["pos_embed"], 8), finetune_track_positions(vit["pos_embed"], 16)
    assert (model.backbone.pos_embed_z - z_ref).abs().max() < 1e-6
    assert (model.backbone.pos_embed_x - x_ref).abs().max() < 1e-6
    antialiased = spec("ostrack_base").build()
    load_pretrained(antialiased, read_checkpoint(tmp_path / "mae_pretrain_vit_base.pth"), resample_mode="timm")
    assert (antialiased.backbone.pos_embed_z - z_ref).abs().max() > 0.05  # what the timm default gave


# -- 5. LoRA scale -------------------------------------------------------------------------------

def test_lora_scale_is_loralibs_default() -> None:
    model = NetworkSpec("srtrack_lora_tiny", 64, 128, lora={"rank_qkv": 8, "rank_proj": 16, "alpha": 1.0}).build()
    qkv = model.backbone.blocks_rgb[0].attn.qkv
    proj = model.backbone.blocks_rgb[0].attn.proj
    assert qkv.scaling == 1 / 8 and proj.scaling == 1 / 16
    torch.manual_seed(0)
    with torch.no_grad():
        qkv.lora_B.normal_()
        x = torch.randn(3, qkv.in_features)
        expected = x @ qkv.weight.T + qkv.bias + (x @ qkv.lora_A.T @ qkv.lora_B.T) / 8
        assert torch.allclose(qkv(x), expected, atol=1e-6)


# -- 7. candidate elimination --------------------------------------------------------------------

def test_ostrack_with_candidate_elimination_is_the_official_forward() -> None:
    model = spec("ostrack_base", ce_layers=(3, 6, 9), ce_keep_ratio=0.7).build()
    model.load_state_dict(perturbed(model.state_dict(), 6))
    z, x = inputs(3, seed=2)
    expected = one_stream(model.state_dict(), z, x, depth=12, heads=2, ce_loc=(3, 6, 9), keep=0.7)
    out = backbone(model, z, x)
    assert (out - expected).abs().max() < TOL
    # 256 search tokens: 180, 126, then 89 kept; the removed positions are zero after the norm
    assert int((out[0, 64:].abs().sum(dim=1) == 0).sum()) == 256 - 89
    without = spec("ostrack_base").build()
    without.load_state_dict(model.state_dict())
    assert (backbone(without, z, x) - expected).abs().max() > 0.05


def test_two_stream_trackers_keep_candidate_elimination_off_as_released() -> None:
    cfg = model_cfg()
    assert cfg.candidate_elimination.layers == (3, 6, 9)
    assert spec_from_config(cfg, "srtrack_base").ce_layers == ()
    assert spec_from_config(cfg, "ostrack_base").ce_layers == (3, 6, 9)


def adjust_keep_rate(epoch, warmup_epochs, total_epochs, iters_per_epoch, base_keep_rate=0.5, max_keep_rate=1, iters=-1):
    """OSTrack's lib/utils/ce_utils.py, as its actor calls it."""
    if epoch < warmup_epochs:
        return 1
    if epoch >= total_epochs:
        return base_keep_rate
    if iters == -1:
        iters = epoch * iters_per_epoch
    total_iters = iters_per_epoch * (total_epochs - warmup_epochs)
    iters = iters - iters_per_epoch * warmup_epochs
    return base_keep_rate + (max_keep_rate - base_keep_rate) * (math.cos(iters / total_iters * math.pi) + 1) * 0.5


def test_training_keep_rate_is_ostracks_warm_up() -> None:
    for epoch in range(1, 301):
        assert keep_rate(epoch, 20, 80, 0.7) == pytest.approx(adjust_keep_rate(epoch, 20, 100, 1, 0.7), abs=1e-15)
    assert keep_rate(500, None, 80, 0.7) == 1.0


# -- 9. OSTrack-384: position embeddings from DropTrack-384 --------------------------------------

def test_position_embeddings_from_a_second_file(tmp_path: Path) -> None:
    ostrack256 = perturbed(spec("ostrack_base").build().state_dict(), 7)
    torch.save({"net": ostrack256}, tmp_path / "OSTrack_ep0300.pth.tar")
    drop384 = perturbed(NetworkSpec("ostrack_base", 192, 384, dims=dict(DIMS), temporal_pos_embed=True).build()
                        .state_dict(), 8)
    pytracking_file(tmp_path / "DropTrack-384.pth.tar", drop384)
    model = NetworkSpec("srtrack_base", 192, 384, dims=dict(DIMS)).build()
    report = load_pretrained(model, read_checkpoint(tmp_path / "OSTrack_ep0300.pth.tar"),
                             pos_embed_from=tmp_path / "DropTrack-384.pth.tar")
    assert not report.resampled and report.pos_embed_from.endswith("DropTrack-384.pth.tar")
    assert torch.equal(model.backbone.pos_embed_x, drop384["backbone.pos_embed_x"])
    assert torch.equal(model.backbone.pos_embed_z, drop384["backbone.pos_embed_z"])
    assert torch.equal(model.backbone.blocks_x[3].mlp.fc1.weight, ostrack256["backbone.blocks.3.mlp.fc1.weight"])


# -- 10. self-describing checkpoints -------------------------------------------------------------

def test_our_checkpoints_say_what_network_they_hold(tmp_path: Path) -> None:
    cfg = model_cfg()
    network = NetworkSpec("vipt_tiny", 64, 128, ce_layers=(3, 6, 9), ce_keep_ratio=0.7)
    model = network.build()
    (tmp_path / "model.pth").write_bytes(save_tracker(model, network.to_dict(), "abc"))
    rebuilt, found, report = network_for(cfg, tmp_path / "model.pth")  # no name: the file's own network
    assert found == network and report.source_format == "srtrack"
    z, x = inputs(6)[0][:, :, :64, :64], inputs(6)[1][:, :, :128, :128]
    with torch.no_grad():
        assert torch.equal(model.eval()(z, x)["pred_boxes"], rebuilt.eval()(z, x)["pred_boxes"])
    # an older file (weights only) is described by the config
    torch.save({"net": NetworkSpec("srtrack_tiny", 128, 256).build().state_dict()}, tmp_path / "old.pth")
    _, old, _ = network_for(cfg, tmp_path / "old.pth")
    assert old.name == cfg.name and old.template_size == 128
