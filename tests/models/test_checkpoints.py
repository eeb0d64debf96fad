"""Checkpoint loading with real OSTrack/DropTrack and ViT key names, random weights, real files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srtrack.errors import CheckpointError
from srtrack.models import create_tracker
from srtrack.models.checkpoints import load_pretrained

DIMS = {"embed_dim": 64, "depth": 12, "num_heads": 2, "head_channels": 32}  # ViT-B layout, small width


def ostrack_state(template: int = 128, search: int = 256) -> dict[str, torch.Tensor]:
    """An OSTrack `net` state dict: the one-stream tracker's keys plus OSTrack's cls_token / pos_embed."""
    torch.manual_seed(1)
    model = create_tracker("ostrack_base", template_size=template, search_size=search, **DIMS)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    state["backbone.cls_token"] = torch.randn(1, 1, 64)
    state["backbone.pos_embed"] = torch.randn(1, 197, 64)
    return state


def vit_state() -> dict[str, torch.Tensor]:
    """A timm/MAE ViT: no `backbone.` prefix, a class token in pos_embed, a decoder, no tracking head."""
    state = {k[len("backbone."):]: v for k, v in ostrack_state().items()
             if k.startswith("backbone.") and "pos_embed_" not in k}
    state["decoder_embed.weight"] = torch.randn(32, 64)
    return state


def save(path: Path, payload) -> Path:
    torch.save(payload, path)
    return path


def test_ostrack_into_srtrack_maps_streams_and_fusion_blocks(tmp_path: Path) -> None:
    state = ostrack_state()
    path = save(tmp_path / "OSTrack_ep0300.pth.tar", {"net": state, "epoch": 300})
    model = create_tracker("srtrack_base", template_size=128, search_size=256, **DIMS)
    report = load_pretrained(model, path)
    assert report.source_format == "ostrack" and not report.missing and not report.unexpected
    assert report.ignored == ["backbone.cls_token", "backbone.pos_embed"] and not report.resampled
    loaded = model.state_dict()
    for i in range(12):
        for stream in ("rgb", "x"):
            assert torch.equal(loaded[f"backbone.blocks_{stream}.{i}.attn.qkv.weight"], state[f"backbone.blocks.{i}.attn.qkv.weight"])
    for j, i in enumerate((2, 5, 8, 11)):
        assert torch.equal(loaded[f"backbone.blocks_fusion.{j}.mlp.fc2.weight"], state[f"backbone.blocks.{i}.mlp.fc2.weight"])
    for stream in ("rgb", "x"):
        assert torch.equal(loaded[f"backbone.patch_embed_{stream}.proj.weight"], state["backbone.patch_embed.proj.weight"])
        assert torch.equal(loaded[f"backbone.norm_{stream}.bias"], state["backbone.norm.bias"])
    assert torch.equal(loaded["box_head.conv1_ctr.0.weight"], state["box_head.conv1_ctr.0.weight"])
    assert torch.equal(loaded["box_head.conv1_ctr.1.running_var"], state["box_head.conv1_ctr.1.running_var"])
    assert torch.equal(loaded["backbone.pos_embed_x"], state["backbone.pos_embed_x"])


def test_ostrack_into_one_stream_is_the_identity(tmp_path: Path) -> None:
    state = ostrack_state()
    model = create_tracker("ostrack_base", template_size=128, search_size=256, **DIMS)
    load_pretrained(model, save(tmp_path / "o.pth.tar", {"net": state}))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_other_input_size_resamples_position_embeddings(tmp_path: Path) -> None:
    path = save(tmp_path / "o.pth.tar", {"net": ostrack_state()})
    model = create_tracker("srtrack_base", template_size=192, search_size=384, **DIMS)
    report = load_pretrained(model, path)
    assert report.resampled == ["backbone.pos_embed_x", "backbone.pos_embed_z"]
    assert model.backbone.pos_embed_x.shape == (1, 576, 64) and model.backbone.pos_embed_z.shape == (1, 144, 64)


def test_mae_vit_weights_leave_the_head_initialised(tmp_path: Path) -> None:
    path = save(tmp_path / "mae_pretrain_vit_base.pth", {"model": vit_state()})
    model = create_tracker("srtrack_base", template_size=128, search_size=256, **DIMS)
    head_before = model.box_head.conv5_size.weight.clone()
    report = load_pretrained(model, path)
    assert report.source_format == "vit" and report.missing and all(k.startswith("box_head.") for k in report.missing)
    assert report.resampled == ["backbone.pos_embed_x", "backbone.pos_embed_z"]
    assert "decoder_embed.weight" in [k.split("backbone.")[-1] for k in report.ignored]
    assert torch.equal(model.box_head.conv5_size.weight, head_before)


def test_unexpected_keys_are_an_error_unless_not_strict(tmp_path: Path) -> None:
    state = ostrack_state()
    state["backbone.adapter.0.weight"] = torch.zeros(3)
    path = save(tmp_path / "odd.pth.tar", {"net": state})
    model = create_tracker("ostrack_base", template_size=128, search_size=256, **DIMS)
    with pytest.raises(CheckpointError, match=r"1 unexpected and 0 missing key\(s\).*\n  backbone.adapter.0.weight"):
        load_pretrained(model, path)
    report = load_pretrained(model, path, strict=False)
    assert report.unexpected == ["backbone.adapter.0.weight"]


def test_wrong_width_names_the_keys(tmp_path: Path) -> None:
    path = save(tmp_path / "o.pth.tar", {"net": ostrack_state()})
    model = create_tracker("ostrack_base", template_size=128, search_size=256, **{**DIMS, "embed_dim": 32})
    with pytest.raises(CheckpointError, match=r"o.pth.tar: 153 tensor shape\(s\) do not fit the model") as info:
        load_pretrained(model, path)
    assert "  backbone.patch_embed.proj.weight: file (64, 3, 16, 16), model (32, 3, 16, 16)\n" in str(info.value)
    assert str(info.value).endswith("... and 133 more")


class Pickled:
    pass


def test_files_with_python_objects_load_with_inert_placeholders(tmp_path: Path) -> None:
    path = save(tmp_path / "legacy.pth.tar", {"net": ostrack_state(), "settings": Pickled()})
    model = create_tracker("ostrack_base", template_size=128, search_size=256, **DIMS)
    report = load_pretrained(model, path)
    assert report.placeholders == ["test_checkpoints.Pickled"] and not report.missing
    assert "inert placeholders: test_checkpoints.Pickled" in report.summary()


def test_unknown_layout_and_missing_file(tmp_path: Path) -> None:
    model = create_tracker("ostrack_tiny", template_size=64, search_size=128)
    with pytest.raises(CheckpointError, match="unknown checkpoint layout"):
        load_pretrained(model, save(tmp_path / "x.pth", {"encoder.w": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="nope.pth: checkpoint file not found"):
        load_pretrained(model, tmp_path / "nope.pth")


@pytest.mark.parametrize("name", ["srtrack_lora_base", "vipt_base"])
def test_peft_variants_load_the_pretrained_tracker_and_keep_fresh_modules(tmp_path: Path, name: str) -> None:
    path = save(tmp_path / "o.pth.tar", {"net": ostrack_state()})
    model = create_tracker(name, template_size=128, search_size=256, **DIMS)
    report = load_pretrained(model, path)
    assert report.missing and all(("lora_" in k) or ("prompt" in k) for k in report.missing)
    assert not report.unexpected
