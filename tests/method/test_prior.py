"""Prior sensitivity on problems with known answers: vmap equals the loop, closed-form Fisher,
two-sided eigenvectors equal a direct eigendecomposition."""

from __future__ import annotations

import pytest
import torch

from srtrack.method.prior import (
    accumulate,
    extract_prior,
    per_sample_gradients,
    per_sample_gradients_loop,
    prior_artifact,
    select_top,
    tracker_sample_loss,
)
from srtrack.models import create_tracker
from srtrack.models.losses import objective

torch.manual_seed(0)
pytestmark = pytest.mark.filterwarnings("ignore:There is a performance drop because we have not yet implemented")


def tracker_batch(n: int, channels: int = 3) -> dict[str, torch.Tensor]:
    box = torch.rand(n, 4) * 0.3 + torch.tensor([0.2, 0.2, 0.1, 0.1])
    heat = torch.zeros(n, 8, 8)
    heat[:, 4, 4] = 1.0
    return {"template": torch.randn(n, channels, 64, 64), "search": torch.randn(n, channels, 128, 128),
            "search_box": box, "score_map": heat}


@pytest.mark.parametrize("name", ["ostrack_tiny", "srtrack_tiny"])
def test_vmap_per_sample_gradients_equal_the_loop(name: str) -> None:
    model = create_tracker(name, template_size=64, search_size=128, depth=1).eval()
    loss, params = tracker_sample_loss(model, objective)
    batch = tracker_batch(3, model.in_chans)
    fast, slow = per_sample_gradients(loss, params, batch), per_sample_gradients_loop(loss, params, batch)
    for key in params:
        scale = float(slow[key].abs().max()) or 1.0  # float32 summation order differs: compare at gradient scale
        torch.testing.assert_close(fast[key], slow[key], rtol=1e-4, atol=1e-5 * scale, msg=key)
    assert fast["backbone.blocks.0.attn.qkv.weight" if name == "ostrack_tiny" else
                "backbone.blocks_rgb.0.attn.qkv.weight"].shape[0] == 3


def test_diagonal_fisher_of_a_linear_gaussian_model_is_the_closed_form() -> None:
    w = torch.tensor([0.5, -1.0, 2.0])
    x, t = torch.randn(50, 3), torch.randn(50)

    def loss(params, sample):
        return 0.5 * (params["w"] @ sample["x"] - sample["t"]) ** 2

    stats = accumulate(None, per_sample_gradients(loss, {"w": w}, {"x": x[:20], "t": t[:20]}))
    stats = accumulate(stats, per_sample_gradients(loss, {"w": w}, {"x": x[20:], "t": t[20:]}))  # chunked
    fisher = prior_artifact(stats, rank=None, energy=None)[0]["w.fisher"]
    expected = (((x @ w - t)[:, None] * x) ** 2).mean(0)
    torch.testing.assert_close(fisher, expected.float())


def test_two_sided_factors_and_their_eigenvectors() -> None:
    weight = torch.randn(5, 4)
    x, t = torch.randn(30, 4), torch.randn(30, 5)

    def loss(params, sample):
        return 0.5 * ((params["W"] @ sample["x"] - sample["t"]) ** 2).sum()

    grads = per_sample_gradients(loss, {"W": weight}, {"x": x, "t": t})
    expected_grads = torch.einsum("no,ni->noi", x @ weight.T - t, x)
    torch.testing.assert_close(grads["W"], expected_grads)
    artifact, _ = prior_artifact(accumulate(None, grads), rank=2, energy=None)
    c_out = torch.einsum("noi,npi->op", expected_grads, expected_grads).double()
    values, vectors = torch.linalg.eigh(c_out)
    top = vectors[:, -2:]
    torch.testing.assert_close(artifact["W.out_vectors"].double() @ artifact["W.out_vectors"].double().T,
                               top @ top.T, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(artifact["W.out_values"].double(), values.flip(0)[:2] / 30, rtol=1e-5, atol=1e-6)
    assert artifact["W.in_vectors"].shape == (4, 2) and artifact["W.fisher"].shape == (5, 4)


def test_energy_threshold_picks_the_fewest_directions() -> None:
    spectrum = torch.linalg.eigh(torch.diag(torch.tensor([1.0, 2.0, 7.0], dtype=torch.float64)))
    assert len(select_top(*spectrum, None, 0.7)[0]) == 1
    assert len(select_top(*spectrum, None, 0.8)[0]) == 2
    assert len(select_top(*spectrum, 1, 0.95)[0]) == 1 and len(select_top(*spectrum, None, None)[0]) == 3


def test_extract_prior_on_a_tracker_covers_every_trainable_parameter() -> None:
    model = create_tracker("srtrack_tiny", template_size=64, search_size=128, depth=1)
    artifact, summary = extract_prior(model, [tracker_batch(2, 6), tracker_batch(2, 6)], objective, rank=4, energy=None)
    assert summary["backbone.blocks_x.0.attn.qkv.weight"]["out_k"] == 4
    assert 1.0 <= summary["backbone.blocks_x.0.attn.qkv.weight"]["out_effective_rank"] <= 4.0 + 1e-6, "4 samples: rank <= 4"
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert {k.rsplit(".", 1)[0] for k in artifact if k.endswith(".fisher")} == set(trainable)
    assert artifact["backbone.blocks_x.0.attn.qkv.weight.out_vectors"].shape == (576, 4)
    assert artifact["backbone.patch_embed_rgb.proj.weight.in_vectors"].shape == (768, 4)
    assert "backbone.norm_rgb.weight.out_vectors" not in artifact
    assert all(torch.isfinite(v).all() for v in artifact.values())
    assert model.training, "the model's mode is restored"
