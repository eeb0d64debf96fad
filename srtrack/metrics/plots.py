"""Success and precision plots of one benchmark for any number of trackers (PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srtrack.figures import save_figure
from srtrack.metrics.ope import SUCCESS_THRESHOLDS


def _save(fig, path: Path) -> list[Path]:
    """PNG and PDF of one figure (srtrack.method.plots.save_figure); returns both paths."""
    png = save_figure(fig, path.with_suffix(".png"), formats=("pdf",), dpi=120)
    return [png, png.with_suffix(".pdf")]


def plot_curves(trackers: dict[str, dict[str, dict]], benchmark: str, out_dir: Path) -> list[Path]:
    """`success` and `precision` plots (OPE profiles) or `pr_curve` (VOT long-term), one line per
    tracker with its headline number in the legend; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = next(iter(trackers.values()))
    written: list[Path] = []
    for profile in profiles:
        if profile == "vot_multistart":
            fig, ax = plt.subplots(figsize=(5.5, 4))
            for name, scores in trackers.items():
                s, c = scores[profile]["summary"], scores[profile]["curves"]
                ax.plot(np.arange(len(c["eao"])), c["eao"], label=f"{name} [EAO {s['eao']:.3f}]")
            ax.axvspan(115, 755, color="0.9", zorder=0)
            ax.set(xlabel="sequence length (frames)", ylabel="expected average overlap",
                   title=f"{benchmark}: EAO curve (multistart)", ylim=(0, 1))
            ax.legend(fontsize=8)
            written += _save(fig, out_dir / f"eao_curve_{profile}")
            continue
        if profile == "vot_longterm":
            fig, ax = plt.subplots(figsize=(4.5, 4))
            for name, scores in trackers.items():
                s, c = scores[profile]["summary"], scores[profile]["curves"]
                ax.plot(c["recall"], c["precision"], label=f"{name} [F {s['f_score']:.3f}]")
            ax.set(xlabel="recall", ylabel="precision", title=f"{benchmark}: long-term precision/recall",
                   xlim=(0, 1), ylim=(0, 1))
            ax.legend(fontsize=8, loc="lower left")
            written += _save(fig, out_dir / f"pr_curve_{profile}")
            continue
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
        for name, scores in trackers.items():
            s, c = scores[profile]["summary"], scores[profile]["curves"]
            axes[0].plot(SUCCESS_THRESHOLDS, c["success"], label=f"{name} [{s['success_auc']:.3f}]")
            grid = np.linspace(0, 25, 51) if profile == "gtot" else np.arange(0, 51)
            axes[1].plot(grid, c["precision"], label=f"{name} [{s['precision']:.3f}]")
        axes[0].set(xlabel="overlap threshold", ylabel="success rate", title=f"{benchmark}: success ({profile})",
                    xlim=(0, 1), ylim=(0, 1))
        axes[1].set(xlabel="location error threshold (px)", ylabel="precision",
                    title=f"{benchmark}: precision ({profile})", ylim=(0, 1))
        for ax in axes:
            ax.legend(fontsize=8, loc="lower left" if ax is axes[0] else "lower right")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        written += _save(fig, out_dir / f"curves_{profile}")
    return written


def plot_attributes(trackers: dict[str, dict[str, dict]], benchmark: str, out_dir: Path) -> list[Path]:
    """Success AUC per attribute (horizontal bars, one colour per tracker) for every OPE profile
    that has attribute results; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    profiles = next(iter(trackers.values()))
    for profile in profiles:
        attributes = sorted({a for scores in trackers.values() for a in scores[profile].get("attributes", {})})
        if not attributes:
            continue
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(attributes) * max(1, len(trackers)) + 1.2))
        height = 0.8 / len(trackers)
        for i, (name, scores) in enumerate(trackers.items()):
            values = _attribute_auc(scores[profile], attributes)
            ax.barh(np.arange(len(attributes)) + i * height, values, height=height, label=name)
        counts = {a: next(s[profile]["attributes"][a]["sequences"] for s in trackers.values()
                          if a in s[profile].get("attributes", {})) for a in attributes}
        ax.set_yticks(np.arange(len(attributes)) + 0.4 - height / 2, [f"{a} ({counts[a]})" for a in attributes])
        ax.set(xlabel="success AUC", xlim=(0, 1), title=f"{benchmark}: success by attribute ({profile})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        written += _save(fig, out_dir / f"attributes_{profile}")
        if len(attributes) >= 3:
            written += _radar(plt, trackers, profile, attributes, counts, benchmark, out_dir)
    return written


def _attribute_auc(profile_scores: dict, attributes: list[str]) -> list[float]:
    """One tracker's success AUC per attribute (NaN where it has no result for one)."""
    return [profile_scores["attributes"].get(a, {}).get("success_auc", np.nan) for a in attributes]


def _radar(plt, trackers: dict[str, dict[str, dict]], profile: str, attributes: list[str], counts: dict[str, int],
           benchmark: str, out_dir: Path) -> list[Path]:
    """The same per-attribute success AUCs as a radar chart (the layout of the LasHeR and COESOT
    papers): one closed polygon per tracker, one spoke per attribute."""
    angles = np.linspace(0, 2 * np.pi, len(attributes), endpoint=False)
    fig, ax = plt.subplots(figsize=(6, 6), subplot_kw={"projection": "polar"})
    for name, scores in trackers.items():
        values = _attribute_auc(scores[profile], attributes)
        ax.plot(np.append(angles, angles[0]), np.append(values, values[0]), marker="o", markersize=3, label=name)
    ax.set_xticks(angles, [f"{a} ({counts[a]})" for a in attributes], fontsize=8)
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"{benchmark}: success AUC by attribute ({profile})", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.25, 1.1))
    fig.tight_layout()
    return _save(fig, out_dir / f"attributes_radar_{profile}")
