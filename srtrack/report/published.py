"""Published competitor numbers: srtrack/resources/published_results.csv, one number per row with
its source, the evaluator that produced it and any known issue; checked before use."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

COLUMNS = ["tracker", "benchmark", "metric", "value", "source", "evaluator", "known_issue"]
# rounding to 0.1 in each of F, Pr, Re moves 2PrRe/(Pr+Re) by at most about 0.05 + 0.05
F_TOLERANCE = 0.1


def f_measure(precision: float, recall: float) -> float:
    """The long-term F at one threshold: 2 Pr Re / (Pr + Re), 0 where both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def load_published(path: Path | None = None) -> pd.DataFrame:
    """The published-results table (the shipped CSV unless `path` is given), values in percent."""
    source = path or resources.files("srtrack.resources").joinpath("published_results.csv")
    with source.open("r", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, dtype={"value": float}, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing columns {missing} (expected {COLUMNS})")
    return frame[COLUMNS]


def check_published(frame: pd.DataFrame) -> list[str]:
    """Problems of rows without a `known_issue`: values outside [0, 100], duplicate numbers, and
    long-term F/Pr/Re triples that break F = 2 Pr Re / (Pr + Re) (F is reported at the threshold
    that maximises it, so the identity must hold; it catches swapped columns)."""
    problems = []
    checked = frame[frame["known_issue"] == ""]
    for row in checked.itertuples():
        if not 0 <= row.value <= 100:
            problems.append(f"{row.tracker} {row.benchmark} {row.metric} = {row.value}: outside [0, 100] (percent)")
    duplicated = checked[checked.duplicated(["tracker", "benchmark", "metric"], keep=False)]
    for (tracker, benchmark, metric), _ in duplicated.groupby(["tracker", "benchmark", "metric"]):
        problems.append(f"{tracker} {benchmark} {metric}: more than one number")
    for (tracker, benchmark), group in checked.groupby(["tracker", "benchmark"]):
        values = dict(zip(group["metric"], group["value"]))
        if {"F", "Pr", "Re"} <= set(values):
            f, pr, re_ = values["F"], values["Pr"], values["Re"]
            expected = f_measure(pr, re_)
            if abs(f - expected) > F_TOLERANCE:
                problems.append(f"{tracker} {benchmark}: F {f} but 2PrRe/(Pr+Re) = {expected:.2f} with Pr {pr}, "
                                f"Re {re_} (columns swapped?)")
    return problems
