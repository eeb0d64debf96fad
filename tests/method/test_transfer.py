"""Transfer sensitivity: the rank mapping (and the released code's gather), bounds, smoothing, resume."""

from __future__ import annotations

import doctest

import pytest
import torch

import srtrack.method.transfer as transfer
from srtrack.method.transfer import TransferSensitivity, hoyer_sparsity, rank_to_factor

S = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7])


@pytest.mark.parametrize("bug_compatible, expected", [
    pytest.param(False, [0.65, 0.25, 0.45, 0.35, 0.55], id="scatter"),
    pytest.param(True, [0.35, 0.55, 0.45, 0.65, 0.25], id="released_gather"),
])
def test_rank_mapping(bug_compatible: bool, expected: list[float]) -> None:
    torch.testing.assert_close(rank_to_factor(S, 0.25, 0.65, bug_compatible=bug_compatible), torch.tensor(expected))


def test_factors_stay_in_range_and_keep_shape() -> None:
    s = torch.rand(7, 5, 3)
    m = rank_to_factor(s, 0.25, 0.65)
    assert m.shape == s.shape and m.min() == pytest.approx(0.25) and m.max() == pytest.approx(0.65)
    assert m.reshape(-1)[s.reshape(-1).argmax()] == pytest.approx(0.65)


def test_window_of_two_steps() -> None:
    sens = TransferSensitivity()
    sens.update({"w": torch.tensor([1.0, 0.0, 0.0])})
    m = sens.update({"w": torch.tensor([0.0, 0.0, 3.0])})["w"]  # s = [0.5, 0, 4.5] / 4.5
    torch.testing.assert_close(m, torch.tensor([0.45, 0.25, 0.65]))


def test_rank_every_reuses_factors_and_state_round_trips() -> None:
    sens = TransferSensitivity(rank_every=2)
    first = sens.update({"w": torch.tensor([3.0, 1.0])})["w"].clone()
    second = sens.update({"w": torch.tensor([0.0, 9.0])})["w"]
    torch.testing.assert_close(first, second)  # not re-ranked on the second step
    clone = TransferSensitivity(rank_every=2)
    clone.load_state_dict(sens.state_dict())
    a, b = sens.update({"w": torch.tensor([1.0, 2.0])}), clone.update({"w": torch.tensor([1.0, 2.0])})
    torch.testing.assert_close(a["w"], b["w"])


def test_hoyer_sparsity_extremes() -> None:
    assert hoyer_sparsity(torch.ones(16)) == pytest.approx(0.0)
    assert hoyer_sparsity(torch.tensor([0.0] * 15 + [2.0])) == pytest.approx(1.0)


def test_doctests() -> None:
    assert doctest.testmod(transfer, optionflags=doctest.ELLIPSIS).failed == 0


def test_quantile_ranks_are_close_to_exact_ranks() -> None:
    from srtrack.method.transfer import quantile_rank_to_factor

    torch.manual_seed(0)
    s = torch.rand(300, 400) ** 3
    exact, approx = rank_to_factor(s, 0.25, 0.65), quantile_rank_to_factor(s, 0.25, 0.65)
    assert (exact - approx).abs().max() < 0.01 and approx.min() >= 0.25 and approx.max() <= 0.65
    small = torch.rand(100)
    torch.testing.assert_close(quantile_rank_to_factor(small, 0.25, 0.65), rank_to_factor(small, 0.25, 0.65))
    with pytest.raises(ValueError, match="'exact' with bug_compatible"):
        TransferSensitivity(bug_compatible=True, rank_method="quantile")


def test_ema_smoothing_and_a_saved_state_is_not_changed_by_later_steps() -> None:
    sens = TransferSensitivity(smoothing="ema", beta=0.5)
    sens.update({"w": torch.tensor([2.0, 0.0])})  # s = 0.5 * [4, 0]
    saved = {k: v.clone() for k, v in sens.state_dict()["previous"].items()}
    state = sens.state_dict()
    sens.update({"w": torch.tensor([0.0, 4.0])})  # s = 0.5 * [2, 0] + 0.5 * [0, 16] = [1, 8]
    torch.testing.assert_close(sens.previous["w"], torch.tensor([1.0, 8.0]))
    torch.testing.assert_close(state["previous"]["w"], saved["w"])
