"""Plots of a prior-sensitivity summary: Fisher energy and effective rank per layer, and a heatmap of
Fisher energy over blocks x sub-layers (qkv, proj, fc1, fc2)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from srtrack.figures import pyplot, save_figure
from srtrack.layout import FISHER_PLOT

SUB_LAYERS = ("attn.qkv.weight", "attn.proj.weight", "mlp.fc1.weight", "mlp.fc2.weight")


def plot_prior(summary: dict[str, dict[str, float]], out_dir: Path) -> list[Path]:
    """Write `fisher_layers.png` and `fisher_heatmap.png`; returns their paths."""
    import numpy as np

    plt = pyplot()

    matrices = [n for n, s in summary.items() if "out_effective_rank" in s]
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.18 * len(matrices)), 6), sharex=True)
    axes[0].bar(range(len(matrices)), [max(summary[n]["fisher_energy"], 1e-30) for n in matrices], color="tab:blue")
    axes[0].set(yscale="log", ylabel="Fisher energy (sum of diag)")
    axes[1].plot(range(len(matrices)), [summary[n]["out_effective_rank"] for n in matrices], "o-", label="output side")
    axes[1].plot(range(len(matrices)), [summary[n]["in_effective_rank"] for n in matrices], "s-", label="input side")
    axes[1].set(ylabel="effective rank", xticks=range(len(matrices)))
    axes[1].set_xticklabels([n.replace("backbone.", "") for n in matrices], rotation=90, fontsize=6)
    axes[1].legend()
    fig.tight_layout()
    paths = [save_figure(fig, out_dir / "fisher_layers.png")]

    blocks = sorted({int(m[1]) for n in summary if (m := re.match(r"^backbone\.blocks\.(\d+)\.", n))})
    if blocks:
        grid = np.full((len(SUB_LAYERS), len(blocks)), np.nan)
        for j, block in enumerate(blocks):
            for i, sub in enumerate(SUB_LAYERS):
                entry = summary.get(f"backbone.blocks.{block}.{sub}")
                if entry:
                    grid[i, j] = math.log10(max(entry["fisher_energy"], 1e-30))
        fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(blocks)), 2.8))
        image = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set(xticks=range(len(blocks)), xticklabels=blocks, yticks=range(len(SUB_LAYERS)), yticklabels=SUB_LAYERS,
               xlabel="block", title="log10 Fisher energy")
        fig.colorbar(image, ax=ax)
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / FISHER_PLOT))
    return paths
