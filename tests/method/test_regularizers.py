"""SRFT and the baselines: projection bounds, schedules, registry, and forgetting on a two-task problem."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn
from torch.func import functional_call

from srtrack.config.types import KappaConfig, MethodConfig
from srtrack.method.prior import accumulate, per_sample_gradients, prior_artifact
from srtrack.method.regularizers import REGULARIZERS, Regularizer, apply_update, create_regularizer, kappa_at
from srtrack.method.transfer import rank_to_factor

# every setting spelled out: the released transfer update (exact ranks every step), cosine kappa 1 -> 0
REFERENCE = MethodConfig(name="srft", m_min=0.25, m_max=0.65, kappa=KappaConfig("cosine", 1.0, 0.0),
                         transfer_weight="complement", penalty_weight=1.0, bug_compatible=False, smoothing="window",
                         rank_every=1, rank_method="exact", prior_on="update", prior_form="projection",
                         sparsity_scaling=False)


def settings(kappa: float | None = None, **overrides) -> MethodConfig:
    """REFERENCE with overrides; `kappa`: a constant kappa."""
    if kappa is not None:
        overrides["kappa"] = KappaConfig("constant", kappa, kappa)
    return dataclasses.replace(REFERENCE, **overrides)


def regularized_step(params: dict[str, nn.Parameter], optimizer: torch.optim.Optimizer, regularizer: Regularizer,
                     loss_fn, step: int) -> dict[str, float]:
    """The trainer's step on a plain loss: task loss + penalty, backward, then `apply_update`."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn()
    penalty = regularizer.penalty(params, step)
    (loss if penalty is None else loss + penalty).backward()
    return apply_update(params, optimizer, regularizer, step)


def subspace_prior(out_dim: int = 6, in_dim: int = 5, k: int = 2) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    p_out = torch.linalg.qr(torch.randn(out_dim, out_dim))[0][:, :k]
    p_in = torch.linalg.qr(torch.randn(in_dim, in_dim))[0][:, :k]
    prior = {"w.out_vectors": p_out, "w.in_vectors": p_in, "w.fisher": torch.ones(out_dim, in_dim),
             "b.fisher": torch.tensor([0.0, 1.0, 0.5])}
    return prior, p_out, p_in


@pytest.mark.parametrize("prior_on", ["gradient", "update"])
def test_kappa_one_removes_the_prior_component_and_kappa_zero_keeps_it(prior_on: str) -> None:
    torch.manual_seed(0)
    prior, p_out, p_in = subspace_prior()
    for kappa, expect_removed in ((1.0, True), (0.0, False)):
        params = {"w": nn.Parameter(torch.randn(6, 5)), "b": nn.Parameter(torch.randn(3))}
        reg = create_regularizer("prior_only", settings(kappa, prior_on=prior_on), 10)
        reg.attach(params, prior)
        before = {n: p.detach().clone() for n, p in params.items()}
        optimizer = torch.optim.SGD(params.values(), lr=0.1)
        regularized_step(params, optimizer, reg, lambda p=params: (p["w"] ** 3).sum() + (p["b"] ** 3).sum(), 0)
        change = params["w"].detach() - before["w"]
        inside = p_out.T @ change @ p_in
        if expect_removed:
            assert inside.abs().max() < 1e-5, "the step has no component left in the prior subspace"
            assert params["b"].detach()[1] == before["b"][1], "the most sensitive vector element does not move"
        else:
            grad_w = 3 * before["w"] ** 2
            torch.testing.assert_close(change, -0.1 * grad_w)


def test_kappa_schedules() -> None:
    assert kappa_at(KappaConfig("constant", 0.7, 0.0), 50, 100) == 0.7
    assert kappa_at(KappaConfig("linear", 1.0, 0.0), 25, 100) == pytest.approx(0.75)
    cosine = KappaConfig("cosine", 1.0, 0.0)
    assert kappa_at(cosine, 0, 100) == pytest.approx(1.0) and kappa_at(cosine, 50, 100) == pytest.approx(0.5)
    assert kappa_at(cosine, 100, 100) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="unknown kappa schedule 'step'"):
        kappa_at(KappaConfig("step", 1.0, 0.0), 1, 2)


def test_registry_and_prior_requirement() -> None:
    assert set(REGULARIZERS) == {"full", "frozen", "prompt", "lora", "l2sp", "ewc", "srft", "prior_only", "transfer_only"}
    with pytest.raises(ValueError, match=r"unknown method 'sft'; known: \['ewc', 'frozen', 'full'"):
        create_regularizer("sft", REFERENCE, 1)
    with pytest.raises(ValueError, match="method 'srft' needs a prior-sensitivity artifact"):
        create_regularizer("srft", REFERENCE, 1).attach({"w": nn.Parameter(torch.zeros(2))}, None)


def test_transfer_only_matches_the_released_update() -> None:
    """One step of the released code by hand: theta = m * theta_prev + (1 - m) * theta_new."""
    params = {"w": nn.Parameter(torch.tensor([1.0, 1.0, 1.0]))}
    reg = create_regularizer("transfer_only", REFERENCE, 10)
    reg.attach(params)
    optimizer = torch.optim.SGD(params.values(), lr=0.5)
    regularized_step(params, optimizer, reg, lambda: (params["w"] * torch.tensor([1.0, 2.0, 3.0])).sum(), 0)
    # g = [1, 2, 3]; s = g^2 / 2 -> ranks 0, 1, 2 -> m = [0.25, 0.45, 0.65]; theta_new = 1 - 0.5 g
    new = torch.tensor([0.5, 0.0, -0.5])
    m = torch.tensor([0.25, 0.45, 0.65])
    torch.testing.assert_close(params["w"].detach(), m * 1.0 + (1 - m) * new)


class ReleasedTransfer:
    """The released trainer's transfer step, written from its definition (RegularTrainer's
    `_momentum_update_with_sensitivity`, method notes 1.3): after the optimizer step, for every
    trainable tensor, `q = g^2 * 1e8` against the previous step's q (zeros at first), the two-step
    mean normalised by its max, an ascending `torch.sort`, the linspace gathered by the sort index,
    and `theta = theta_prev * m + theta_new * (1 - m)`."""

    def __init__(self, params: dict[str, torch.Tensor], m_min: float = 0.25, m_max: float = 0.65):
        self.keep = {n: 0 * p.detach().clone() for n, p in params.items()}
        self.m_min, self.m_max = m_min, m_max

    def step(self, params: dict[str, nn.Parameter], before: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in params.items():
                current = (p.grad ** 2).detach() * 1e8
                both = (self.keep[name] + current) / 2.0
                self.keep[name] = current
                sensitivities = (both / torch.max(both)).flatten()
                _, sort_id = sensitivities.sort(descending=False)
                momentums = torch.linspace(self.m_min, self.m_max, steps=sensitivities.shape[0])
                factors = momentums[sort_id].view(p.grad.shape)
                p.data = before[name] * factors + p.data * (1.0 - factors)


@pytest.mark.parametrize("ties", [False, True])
def test_bug_compatible_transfer_only_is_the_released_arithmetic_bit_for_bit(ties: bool) -> None:
    """transfer_only with bug_compatible, through `apply_update`, against the released definition:
    the same weights bit for bit over 12 AdamW steps, on tensors whose squared gradients tie (a
    quantised input: the sort's order of ties decides the gathered factors) and on untied ones."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 24), nn.Tanh(), nn.Linear(24, 3))
    x, y = torch.randn(64, 16), torch.randn(64, 3)
    if ties:
        x = torch.round(x)  # many identical gradient entries, and whole zero columns
        x[:, :4] = 0
    twin = copy.deepcopy(model)
    ours, theirs = dict(model.named_parameters()), dict(twin.named_parameters())
    regularizer = create_regularizer("transfer_only", settings(bug_compatible=True), 12)
    regularizer.attach(ours)
    released = ReleasedTransfer(theirs)
    optimizers = [torch.optim.AdamW(p.values(), lr=1e-2) for p in (ours, theirs)]
    for step in range(12):
        regularized_step(ours, optimizers[0], regularizer, lambda: ((model(x) - y) ** 2).mean(), step)
        optimizers[1].zero_grad(set_to_none=True)
        ((twin(x) - y) ** 2).mean().backward()
        before = {n: p.detach().clone() for n, p in theirs.items()}
        optimizers[1].step()
        released.step(theirs, before)
        for name in ours:
            assert torch.equal(ours[name].detach(), theirs[name].detach()), (step, name)
    # the scatter (our default) gives other weights: the reading matters
    assert not torch.equal(rank_to_factor(torch.tensor([0.9, 0.1, 0.5]), 0.25, 0.65),
                           rank_to_factor(torch.tensor([0.9, 0.1, 0.5]), 0.25, 0.65, bug_compatible=True))


def two_task_forgetting(seed: int, method: str, chosen: MethodConfig) -> tuple[float, float, float]:
    """Train an MLP on task A, tune on task B; returns (forgetting of A, final B loss, initial B loss).

    The tasks live in partly overlapping input subspaces (a GPM-style continual-learning setting),
    and the targets are noisy so that the empirical Fisher at the end of task A is informative.
    """
    torch.manual_seed(seed)

    def mlp() -> nn.Sequential:
        return nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 4))

    teacher_a, teacher_b, student = mlp(), mlp(), mlp()
    basis = torch.linalg.qr(torch.randn(8, 8))[0]
    xa, xb = torch.randn(256, 3) @ basis[:, :3].T * 1.5, torch.randn(256, 4) @ basis[:, 2:6].T * 1.5
    with torch.no_grad():
        ya, yb = teacher_a(xa) + 0.3 * torch.randn(256, 4), teacher_b(xb) + 0.3 * torch.randn(256, 4)
    params = dict(student.named_parameters())

    def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((student(x) - y) ** 2).mean()

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> float:
        with torch.no_grad():
            return mse(x, y).item()

    plain = create_regularizer("full", chosen, 400)
    optimizer = torch.optim.Adam(params.values(), lr=1e-2)
    for step in range(400):
        regularized_step(params, optimizer, plain, lambda: mse(xa, ya), step)

    def sample_loss(p, sample):
        return ((functional_call(student, p, (sample["x"][None],)) - sample["y"][None]) ** 2).mean()

    grads = per_sample_gradients(sample_loss, {n: p.detach() for n, p in params.items()}, {"x": xa[:128], "y": ya[:128]})
    prior, _ = prior_artifact(accumulate(None, grads), rank=8, energy=None)
    loss_a, loss_b = evaluate(xa, ya), evaluate(xb, yb)
    regularizer = create_regularizer(method, chosen, 200)
    regularizer.attach(params, prior)
    optimizer = torch.optim.Adam(params.values(), lr=1e-2)
    for step in range(200):
        regularized_step(params, optimizer, regularizer, lambda: mse(xb, yb), step)
    return evaluate(xa, ya) - loss_a, evaluate(xb, yb), loss_b


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ewc_and_srft_forget_less_than_full_fine_tuning(seed: int) -> None:
    full, full_b, start_b = two_task_forgetting(seed, "full", REFERENCE)
    ewc, ewc_b, _ = two_task_forgetting(seed, "ewc", settings(penalty_weight=30.0))
    srft, srft_b, _ = two_task_forgetting(seed, "srft", REFERENCE)
    assert full > 0.05, "plain fine-tuning forgets task A"
    assert ewc < 0.6 * full, f"EWC forgot {ewc:.4f} vs full {full:.4f}"
    assert srft < 0.9 * full, f"SRFT forgot {srft:.4f} vs full {full:.4f}"
    for name, b in (("EWC", ewc_b), ("SRFT", srft_b)):
        assert b < 1.3 * full_b and b < 0.35 * start_b, f"{name} learned task B: {b:.4f} vs full {full_b:.4f}"


def test_config_selects_a_registered_method_with_its_settings() -> None:
    from conftest import DEFAULT_CONFIG
    from srtrack.config import load_config, load_schema

    assert load_schema()["properties"]["method"]["properties"]["name"]["enum"] == sorted(REGULARIZERS)
    cfg = load_config(DEFAULT_CONFIG, ["method.kappa.kind=linear", "method.bug_compatible=true", "method.rank_method=exact",
                                       "method.rank_every=1"])
    regularizer = create_regularizer(cfg.method.name, cfg.method, 10)
    assert isinstance(regularizer, REGULARIZERS["srft"]) and regularizer.settings.bug_compatible
    assert regularizer.kappa(5) == pytest.approx(0.5)  # linear from 1 to 0 over 10 steps


def test_prior_penalty_form_is_zero_at_theta0_and_grows_inside_the_subspace() -> None:
    torch.manual_seed(1)
    prior, p_out, p_in = subspace_prior()
    prior.update({"w.out_values": torch.tensor([2.0, 1.0]), "w.in_values": torch.tensor([1.0, 0.5])})
    params = {"w": nn.Parameter(torch.randn(6, 5)), "b": nn.Parameter(torch.randn(3))}
    reg = create_regularizer("srft", settings(1.0, prior_form="penalty"), 10)
    reg.attach(params, prior)
    def penalty() -> float:
        with torch.no_grad():
            return reg.penalty(params, 0).item()

    assert penalty() == 0.0
    with torch.no_grad():
        params["w"].add_(p_out[:, :1] @ p_in[:, :1].T)  # one unit along the top pair of directions
    assert penalty() == pytest.approx(0.5)
    with torch.no_grad():
        params["w"].sub_(p_out[:, :1] @ p_in[:, :1].T)
        outside = torch.randn(6, 5)
        outside -= p_out @ (p_out.T @ outside @ p_in) @ p_in.T  # no component in the subspace
        params["w"].add_(outside)
    assert penalty() == pytest.approx(0.0, abs=1e-6)


def test_train_only_methods_configure_the_model() -> None:
    from srtrack.models import create_tracker

    model = create_tracker("srtrack_tiny", template_size=64, search_size=128)
    create_regularizer("frozen", REFERENCE, 1).configure_model(model)
    assert {model.param_group(n) for n, p in model.named_parameters() if p.requires_grad} == {"head"}
    with pytest.raises(ValueError, match=r"method 'lora' trains \['lora'\], but the model has none of them"):
        create_regularizer("lora", REFERENCE, 1).configure_model(model)
    lora_model = create_tracker("srtrack_lora_tiny", template_size=64, search_size=128)
    create_regularizer("lora", REFERENCE, 1).configure_model(lora_model)
    assert {lora_model.param_group(n) for n, p in lora_model.named_parameters() if p.requires_grad} == {"lora"}


def test_sparsity_scaling_damps_concentrated_gradients_more() -> None:
    for scaling, expected in ((False, True), (True, False)):
        params = {"dense": nn.Parameter(torch.zeros(4)), "spike": nn.Parameter(torch.zeros(4))}
        reg = create_regularizer("transfer_only", settings(sparsity_scaling=scaling), 10)
        reg.attach(params)
        optimizer = torch.optim.SGD(params.values(), lr=1.0)
        grads = {"dense": torch.ones(4), "spike": torch.tensor([0.0, 0.0, 0.0, 4.0])}
        regularized_step(params, optimizer, reg, lambda p=params, gs=grads: sum((p[n] * g).sum() for n, g in gs.items()), 0)
        dense_kept = float(params["dense"].detach().abs().sum())
        # with scaling, the flat gradient (Hoyer 0) is not damped at all: its full SGD step survives
        assert (dense_kept < 4.0) == expected


def test_bug_compatible_scales_squared_gradients_as_the_released_code_does() -> None:
    """Gradients near 1e-21 square into float32's subnormals, where rounding ties many of them; the
    released code's x 1e8 keeps them apart, and so the gathered factors depend on it."""
    from srtrack.method.transfer import TransferSensitivity

    g = torch.randn(4096, generator=torch.Generator().manual_seed(0)) * 1e-21
    ours = TransferSensitivity(bug_compatible=True).update({"w": g})["w"]
    scaled = (0 * g + (g ** 2) * 1e8) / 2.0
    _, order = (scaled / torch.max(scaled)).sort(descending=False)
    assert torch.equal(ours, torch.linspace(0.25, 0.65, steps=4096)[order])
    unscaled = torch.square(g) / 2.0
    _, other = (unscaled / torch.max(unscaled)).sort(descending=False)
    assert not torch.equal(ours, torch.linspace(0.25, 0.65, steps=4096)[other])
