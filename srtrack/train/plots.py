"""The training curve of a run: loss terms, IoU on the training batches, and the regularizer's
statistics over steps (one PNG, `loss.png`)."""

from __future__ import annotations

from pathlib import Path

from srtrack.figures import pyplot, save_figure
from srtrack.layout import LOSS_PLOT


def plot_history(history: list[dict[str, float]], out_dir: Path) -> list[Path]:
    """Write `loss.png` from the logged windows (each with a `step`); returns the paths written."""
    if not history:
        return []
    plt = pyplot()

    steps = [h["step"] for h in history]
    reg_keys = [k for k in ("reg/kappa", "reg/prior_removed", "reg/transfer_weight") if k in history[-1]]
    panels = 3 if reg_keys else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6))
    for key in ("loss/task", "loss/focal", "loss/giou", "loss/l1"):
        axes[0].plot(steps, [h.get(key, float("nan")) for h in history], label=key.split("/")[1])
    axes[0].set(xlabel="step", ylabel="loss", title="training loss", yscale="log")
    axes[0].legend(fontsize=8)
    axes[1].plot(steps, [h.get("train/iou", float("nan")) for h in history])
    axes[1].set(xlabel="step", ylabel="IoU", title="IoU on the training batches", ylim=(0, 1))
    for key in reg_keys:
        axes[2].plot(steps, [h.get(key, float("nan")) for h in history], label=key.split("/")[1])
    if reg_keys:
        axes[2].set(xlabel="step", title="regularizer")
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    return [save_figure(fig, out_dir / LOSS_PLOT)]
