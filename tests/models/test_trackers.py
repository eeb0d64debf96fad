"""Every registered tracker: shapes, gradients on exactly the trainable parameters, paper-size counts."""

from __future__ import annotations

import math

import pytest
import torch

from srtrack.models import TRACKERS, create_tracker
from srtrack.models.backbones import fusion_layers
from srtrack.models.head import decode_boxes
from srtrack.models.losses import LossWeights, focal_loss, giou, loss_terms, weighted_loss

torch.manual_seed(0)
SMALL = {"depth": 2}  # registry-wide tests shrink depth to stay fast; the structure is the same


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_forward_shapes_and_gradients_reach_exactly_the_trainable_parameters(name: str) -> None:
    model = create_tracker(name, template_size=64, search_size=128, **({} if "tiny" in name else SMALL))
    channels = model.in_chans
    out = model(torch.randn(2, channels, 64, 64), torch.randn(2, channels, 128, 128))
    assert out["score_map"].shape == (2, 1, 8, 8) and out["size_map"].shape == (2, 2, 8, 8)
    assert out["offset_map"].shape == (2, 2, 8, 8) and out["pred_boxes"].shape == (2, 4)
    assert all(torch.isfinite(v).all() for v in out.values())
    loss = out["score_map"].sum() + out["size_map"].sum() + out["offset_map"].pow(2).sum() + out["pred_boxes"].sum()
    loss.backward()
    for pname, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and torch.isfinite(param.grad).all(), f"{name}: no gradient for {pname}"
        else:
            assert param.grad is None, f"{name}: frozen {pname} got a gradient"


def test_srtrack_freezes_head_and_position_embeddings_by_default() -> None:
    model = create_tracker("srtrack_tiny", template_size=64, search_size=128)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters() if n.startswith(("box_head.", "backbone.pos_embed_"))}
    model.set_frozen(())
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match=r"unknown parameter group\(s\) \['heads'\]"):
        model.set_frozen(("heads",))


@pytest.mark.parametrize("name, sizes, total, trainable", [
    pytest.param("srtrack_base", (128, 256), 206.4e6, 199.6e6, id="srtrack_256"),
    pytest.param("srtrack_base", (192, 384), 206.7e6, 199.6e6, id="srtrack_384"),
    pytest.param("ostrack_base", (128, 256), 92.4e6, 92.4e6, id="ostrack_256"),
])
def test_paper_size_parameter_counts(name: str, sizes: tuple[int, int], total: float, trainable: float) -> None:
    report = create_tracker(name, template_size=sizes[0], search_size=sizes[1]).parameter_report()
    assert report["total"] == pytest.approx(total, rel=2e-3), report
    assert report["trainable"] == pytest.approx(trainable, rel=2e-3), report


def test_parameter_groups_cover_the_official_learning_rate_groups() -> None:
    model = create_tracker("srtrack_tiny", template_size=64, search_size=128)
    groups = {model.param_group(n) for n, _ in model.named_parameters()}
    assert groups == {"head", "pos_embed", "embeddings", "embeddings_x", "fusion", "norms", "blocks", "blocks_x"}
    assert model.param_group("backbone.blocks_x.0.attn.qkv.weight") == "blocks_x"
    assert model.param_group("backbone.blocks_rgb.0.attn.qkv.weight") == "blocks"
    assert model.param_group("backbone.patch_embed_x.proj.weight") == "embeddings_x"
    assert model.param_group("backbone.blocks_fusion.1.mlp.fc1.bias") == "fusion"


def test_fusion_after_layers_3_6_9_12() -> None:
    assert fusion_layers(12) == [2, 5, 8, 11] and fusion_layers(4) == [0, 1, 2, 3]
    for depth in range(1, 25):
        layers = fusion_layers(depth)
        assert layers == sorted(set(layers)) and layers[0] >= 0 and layers[-1] == depth - 1


def test_unknown_tracker() -> None:
    with pytest.raises(ValueError, match=r"unknown tracker 'vit'; known: \['ostrack_base', 'ostrack_tiny'"):
        create_tracker("vit", template_size=64, search_size=128)


def test_decode_boxes_reads_peak_size_and_offset() -> None:
    score = torch.zeros(1, 1, 4, 4)
    score[0, 0, 2, 1] = 0.9  # row 2, column 1
    size = torch.full((1, 2, 4, 4), 0.1)
    size[0, :, 2, 1] = torch.tensor([0.5, 0.25])
    offset = torch.zeros(1, 2, 4, 4)
    offset[0, :, 2, 1] = torch.tensor([0.5, 0.25])
    box = decode_boxes(score, size, offset)
    torch.testing.assert_close(box, torch.tensor([[(1 + 0.5) / 4, (2 + 0.25) / 4, 0.5, 0.25]]))


def test_focal_loss_by_hand() -> None:
    pred = torch.tensor([[[0.8, 0.3], [0.1, 0.5]]])
    target = torch.tensor([[[1.0, 0.5], [0.0, 0.25]]])
    positive = math.log(0.8) * 0.2 ** 2
    negatives = (math.log(0.7) * 0.3 ** 2 * 0.5 ** 4 + math.log(0.9) * 0.1 ** 2 * 1.0
                 + math.log(0.5) * 0.5 ** 2 * 0.75 ** 4)
    assert focal_loss(pred, target).item() == pytest.approx(-(positive + negatives), rel=1e-6)


def test_giou_and_weighted_loss_by_hand() -> None:
    value, iou = giou(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 1.0, 3.0, 3.0]]))
    assert iou.item() == pytest.approx(1 / 7) and value.item() == pytest.approx(1 / 7 - 2 / 9)
    outputs = {"pred_boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2]]),  # xyxy 0.4, 0.4, 0.6, 0.6
               "score_map": torch.full((1, 1, 2, 2), 0.5)}
    target_box = torch.tensor([[0.4, 0.4, 0.2, 0.2]])  # the same box: GIoU 1, L1 0
    heat = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    terms = loss_terms(outputs, target_box, heat)
    focal = -(math.log(0.5) * 0.25 + 3 * math.log(0.5) * 0.25)
    assert weighted_loss(terms, LossWeights(1, 2, 5)).item() == pytest.approx(focal, rel=1e-6)
    assert terms["giou"].item() == pytest.approx(0, abs=1e-6) and terms["iou"].item() == pytest.approx(1.0)
    shifted = loss_terms({**outputs, "pred_boxes": torch.tensor([[0.6, 0.5, 0.2, 0.2]])}, target_box, heat)
    expected = 3 * shifted["focal"] + 2 * shifted["giou"] + 5 * shifted["l1"]
    assert weighted_loss(shifted, LossWeights(3, 2, 5)).item() == pytest.approx(expected.item())
    assert shifted["giou"].item() > 0.5 and shifted["l1"].item() == pytest.approx(0.05)


def test_lora_starts_equal_to_the_base_model_and_trains_only_low_rank_matrices() -> None:
    torch.manual_seed(3)
    base = create_tracker("srtrack_tiny", template_size=64, search_size=128)
    lora = create_tracker("srtrack_lora_tiny", template_size=64, search_size=128)
    missing, unexpected = lora.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all("lora_" in k for k in missing)
    base.eval(), lora.eval()
    z, x = torch.randn(1, 6, 64, 64), torch.randn(1, 6, 128, 128)
    torch.testing.assert_close(lora(z, x)["score_map"], base(z, x)["score_map"])
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    # ranks 8 (qkv) and 16 (proj) in 4 + 4 + 4 blocks of width 192
    assert lora.parameter_report()["trainable"] == 12 * ((192 + 3 * 192) * 8 + (192 + 192) * 16)


def test_vipt_trains_only_the_prompt_modules() -> None:
    model = create_tracker("vipt_tiny", template_size=64, search_size=128)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("prompt" in n for n in trainable)
    assert any(n.startswith("backbone.patch_embed_prompt.") for n in trainable)


def test_config_schema_lists_exactly_the_registered_trackers() -> None:
    from srtrack.config import load_schema

    assert load_schema()["properties"]["model"]["properties"]["name"]["enum"] == sorted(TRACKERS)


def test_parameter_report_cli(tmp_path, capsys) -> None:
    from srtrack.models.__main__ import main

    assert main(["--sizes", "64", "128", "--json", str(tmp_path / "c.json")]) == 0
    import json

    table = json.loads((tmp_path / "c.json").read_text())
    assert set(table) == set(TRACKERS) and table["srtrack_tiny"]["trainable"] < table["srtrack_tiny"]["total"]
    assert "srtrack_lora_tiny" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["srtrack_tiny", "ostrack_tiny", "vipt_tiny", "srtrack_lora_tiny"])
def test_activation_checkpointing_gives_the_same_loss_and_gradients(name: str) -> None:
    """Recomputed activations, drop-path masks included (the RNG state is replayed): bit-equal results."""
    torch.manual_seed(0)
    model = create_tracker(name, template_size=64, search_size=128, drop_path_rate=0.3).train()
    template, search = torch.randn(2, model.in_chans, 64, 64), torch.randn(2, model.in_chans, 128, 128)

    def loss_and_grads(checkpointed: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
        model.backbone.activation_checkpointing = checkpointed
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        saved = []  # what autograd keeps for the backward pass (checkpointing keeps block inputs only)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
            out = model(template, search)
        loss = sum(value.float().square().mean() for value in out.values())
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, sum(saved)

    plain_loss, plain, plain_kept = loss_and_grads(False)
    loss, grads, kept = loss_and_grads(True)
    assert kept < plain_kept / 2
    assert torch.equal(loss, plain_loss) and grads.keys() == plain.keys() and len(grads) > 10
    assert all(torch.equal(grads[n], plain[n]) for n in plain)
