"""One benchmark's plots for any number of trackers (PNG and PDF): success, precision and, where the
benchmark's table reports it, normalized precision (OPE profiles); precision-recall (VOT long-term);
the EAO curve (VOT multistart); success by attribute.

Drawn as the field draws them: one line per tracker, each panel's legend sorted by that panel's score
and placed outside the curves, the benchmark's name in the titles. A tracker evaluated with several
seeds is drawn as its mean curve with the band from its lowest to its highest seed, and its legend
entry gives mean +- std over the seeds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from srtrack.datasets import READERS, benchmark_title
from srtrack.figures import pyplot, save_figure
from srtrack.metrics.ope import NORM_THRESHOLDS, PROFILES, SUCCESS_THRESHOLDS

Scores = dict[str, dict]  # one evaluation: {profile: {"summary", "curves", "attributes"}}
Trackers = dict[str, list[Scores]]  # tracker name -> its evaluations, one per seed


@dataclass(frozen=True)
class Panel:
    """One axis: the curve key, the summary score its legend is sorted by, and its labels."""

    curve: str
    score: str
    name: str
    xlabel: str
    ylabel: str
    x: np.ndarray | None = None  # None: the curve's index


def _save(fig, path: Path) -> list[Path]:
    """PNG and PDF of one figure; returns both paths."""
    png = save_figure(fig, path.with_suffix(".png"), formats=("pdf",), dpi=120)
    return [png, png.with_suffix(".pdf")]


def _legend_label(name: str, values: list[float]) -> str:
    if len(values) == 1:
        return f"{name} [{values[0]:.3f}]"
    return f"{name} [{statistics.fmean(values):.3f} ± {statistics.stdev(values):.3f}, {len(values)} seeds]"


def _legend_outside(ax) -> None:
    """The legend right of the axes, in the order the lines were drawn (best score first)."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


def ranked(trackers: Trackers, profile: str, score: str) -> list[tuple[str, list[Scores]]]:
    """The trackers by their mean `score` over seeds, best first (ties keep the given order)."""
    return sorted(trackers.items(), key=lambda kv: -statistics.fmean(s[profile]["summary"][score] for s in kv[1]))


def colours(plt, names: Iterable[str]) -> dict[str, str]:
    """One colour per tracker (in the order given), the same in every panel and plot of a figure set."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def _draw_panel(ax, trackers: Trackers, profile: str, panel: Panel, colour: dict[str, str]) -> None:
    """Every tracker's mean curve (best score first), with its seed band."""
    for name, runs in ranked(trackers, profile, panel.score):
        curves = [np.asarray(s[profile]["curves"][panel.curve], dtype=float) for s in runs]
        length = min(len(c) for c in curves)
        stack = np.stack([c[:length] for c in curves])
        x = panel.x[:length] if panel.x is not None else np.arange(length)
        values = [float(s[profile]["summary"][panel.score]) for s in runs]
        ax.plot(x, stack.mean(axis=0), color=colour[name], label=_legend_label(name, values))
        if len(runs) > 1:
            ax.fill_between(x, stack.min(axis=0), stack.max(axis=0), color=colour[name], alpha=0.2, linewidth=0)
    ax.set(xlabel=panel.xlabel, ylabel=panel.ylabel, ylim=(0, 1))
    ax.grid(alpha=0.3)
    _legend_outside(ax)


def ope_panels(benchmark: str, profile: str) -> list[Panel]:
    """Success and precision; normalized precision too where the benchmark's table reports it."""
    panels = [Panel("success", "success_auc", "success", "overlap threshold", "success rate", SUCCESS_THRESHOLDS),
              Panel("precision", "precision", "precision", "location error threshold (px)", "precision",
                    PROFILES[profile].precision_thresholds)]
    reported = dict(READERS[benchmark].columns).values() if benchmark in READERS else ()
    if f"{profile}/norm_precision" in reported:
        panels.append(Panel("norm_precision", "norm_precision", "normalized precision",
                            "normalized location error threshold", "normalized precision", NORM_THRESHOLDS))
    return panels


def plot_curves(trackers: Trackers, benchmark: str, out_dir: Path) -> list[Path]:
    """`curves_<profile>` (OPE), `pr_curve_<profile>` (VOT long-term) and `eao_curve_<profile>` (VOT
    multistart) for every profile the trackers were scored with; returns the files written."""
    plt = pyplot()
    title, colour = benchmark_title(benchmark), colours(plt, trackers)
    written: list[Path] = []
    for profile in next(iter(trackers.values()))[0]:
        if profile == "vot_multistart":
            fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
            _draw_panel(ax, trackers, profile, Panel("eao", "eao", "EAO", "sequence length (frames)",
                                                     "expected average overlap"), colour)
            ax.axvspan(115, 755, color="0.9", zorder=0)
            ax.set_title(f"{title}: EAO curve (multistart)")
            written += _save(fig, out_dir / f"eao_curve_{profile}")
        elif profile == "vot_longterm":
            written += _save(_precision_recall(plt, trackers, profile, title, colour), out_dir / f"pr_curve_{profile}")
        else:
            panels = ope_panels(benchmark, profile)
            fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4), squeeze=False,
                                     layout="constrained")
            for ax, panel in zip(axes[0], panels):
                _draw_panel(ax, trackers, profile, panel, colour)
                ax.set_title(f"{title}: {panel.name} ({profile})")
            if panels[0].x is not None:
                axes[0][0].set_xlim(0, 1)
            written += _save(fig, out_dir / f"curves_{profile}")
    return written


def _precision_recall(plt, trackers: Trackers, profile: str, title: str, colour: dict[str, str]):
    """Long-term precision against recall: one line per seed (the curves share no grid), one colour
    and one legend entry (mean F) per tracker, best F first."""
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for name, runs in ranked(trackers, profile, "f_score"):
        for i, s in enumerate(runs):
            c = s[profile]["curves"]
            label = _legend_label(name, [float(r[profile]["summary"]["f_score"]) for r in runs]) if i == 0 else None
            ax.plot(c["recall"], c["precision"], color=colour[name], label=label, alpha=1.0 if len(runs) == 1 else 0.7)
    ax.set(xlabel="recall", ylabel="precision", title=f"{title}: long-term precision/recall (F)", xlim=(0, 1),
           ylim=(0, 1))
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return fig


def plot_attributes(trackers: Trackers, benchmark: str, out_dir: Path) -> list[Path]:
    """Success AUC per attribute (horizontal bars, one colour per tracker, error bars over seeds) for
    every OPE profile that has attribute results, and a radar of the same numbers from three
    attributes on; returns the files written."""
    plt = pyplot()
    title = benchmark_title(benchmark)
    written: list[Path] = []
    for profile in next(iter(trackers.values()))[0]:
        attributes = sorted({a for runs in trackers.values() for s in runs for a in s[profile].get("attributes", {})})
        if not attributes:
            continue
        counts = {a: next(s[profile]["attributes"][a]["sequences"] for runs in trackers.values() for s in runs
                          if a in s[profile].get("attributes", {})) for a in attributes}
        aucs = {name: np.array([_attribute_auc(s[profile], attributes) for s in runs]) for name, runs in trackers.items()}
        means = {name: np.nanmean(values, axis=0) for name, values in aucs.items()}
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(attributes) * max(1, len(trackers)) + 1.2), layout="constrained")
        height = 0.8 / len(trackers)
        for i, (name, values) in enumerate(aucs.items()):
            spread = np.std(values, axis=0, ddof=1) if len(values) > 1 else None
            ax.barh(np.arange(len(attributes)) + i * height, means[name], height=height, xerr=spread, label=name)
        ax.set_yticks(np.arange(len(attributes)) + 0.4 - height / 2, [f"{a} ({counts[a]})" for a in attributes])
        ax.set(xlabel="success AUC", xlim=(0, 1), title=f"{title}: success by attribute ({profile})")
        _legend_outside(ax)
        written += _save(fig, out_dir / f"attributes_{profile}")
        if len(attributes) >= 3:
            written += _radar(plt, means, profile, attributes, counts, title, out_dir)
    return written


def _attribute_auc(profile_scores: dict, attributes: list[str]) -> list[float]:
    """One evaluation's success AUC per attribute (NaN where it has no result for one)."""
    return [profile_scores["attributes"].get(a, {}).get("success_auc", np.nan) for a in attributes]


def _radar(plt, means: dict[str, np.ndarray], profile: str, attributes: list[str], counts: dict[str, int],
           title: str, out_dir: Path) -> list[Path]:
    """The per-attribute success AUCs (mean over seeds) as a radar chart (the layout of the LasHeR
    and COESOT papers): one closed polygon per tracker, one spoke per attribute."""
    angles = np.linspace(0, 2 * np.pi, len(attributes), endpoint=False)
    fig, ax = plt.subplots(figsize=(7, 6), subplot_kw={"projection": "polar"}, layout="constrained")
    for name, values in means.items():
        ax.plot(np.append(angles, angles[0]), np.append(values, values[0]), marker="o", markersize=3, label=name)
    ax.set_xticks(angles, [f"{a} ({counts[a]})" for a in attributes], fontsize=8)
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(f"{title}: success AUC by attribute ({profile})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.1, 1.05), frameon=False)
    return _save(fig, out_dir / f"attributes_radar_{profile}")
