"""The tables: layouts the field uses per modality, rows from runs and published numbers, checks.

Every number is shown in percent. Ours are the mean (+- std over seeds when there are several) of
the newest finished evaluation run per seed; published ones come with their source and evaluator.
Checks that fail the report: a cell the study asks for without a run, a value outside [0, 1], a
long-term F that is not 2 Pr Re / (Pr + Re) at the reported point, and published rows that fail
published.check_published.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import pandas as pd

from srtrack.config import Config
from srtrack.datasets import READERS, benchmark_title
from srtrack.errors import SrtrackError
from srtrack.report.published import check_published, f_measure
from srtrack.report.runs import StudyRuns
from srtrack.report.uncertainty import Interval, paired_bootstrap, seed_mean
from srtrack.study import BASELINE, PEFT_TRACKERS, SRFT_METHODS, Study, peft_family, rgb_counterpart

MODALITY_NAMES = {"rgbt": "RGB-T", "rgbd": "RGB-D", "rgbe": "RGB-E", "rgbx": "RGB-X (joint)"}
ABLATION_ORDER = ["full", "prior_only", "transfer_only", "srft"]
PARADIGMS = ["full", "prompt", "lora", "srft"]
MAIN_PREFIX = "main_"  # the key of each modality's main comparison table: main_<modality>
REFERENCES = ("full", BASELINE)  # what every row's difference is measured against
RGB_TRACKER = "rgb_tracker"  # the one-stream RGB tracker on RGB: the stability reference of the retention tables
SYNTHETIC_NOTE = ("Synthetic benchmarks (the embedded default): these numbers check the pipeline, not the paper's "
                  "claims; published numbers on the real benchmarks are left out.")


class ReportError(SrtrackError):
    """A table cannot be built honestly (a missing run, an impossible value)."""


@dataclass(frozen=True)
class Column:
    benchmark: str
    metric: str
    mlflow: str | None = None  # None: not an evaluation metric (e.g. trainable parameters)
    decimals: int = 1
    tuned_on: str | None = None  # scores of trackers tuned on this modality, on this (other) benchmark

    @property
    def header(self) -> str:
        return f"{benchmark_title(self.benchmark)} {self.metric}".strip()


# what each evaluation metric measures, for the tables' notes: by metric path, else by its last part
MEASURES = {
    "success_auc": "success AUC (area under the success curve over IoU thresholds 0 to 1)",
    "precision": "precision (share of frames with a centre error of at most 20 pixels)",
    "norm_precision": "normalized precision (centre error relative to the target size, at most 0.2)",
    "vot_longterm/precision": "tracking precision (VOT long-term: mean IoU on frames with a prediction)",
    "vot_longterm/recall": "tracking recall (VOT long-term: mean IoU on frames with the target visible)",
    "vot_longterm/f_score": "tracking F-score (VOT long-term)",
    "vot_multistart/eao": "expected average overlap (VOT multistart)",
    "vot_multistart/accuracy": "accuracy (VOT multistart: mean IoU while tracking)",
    "vot_multistart/robustness": "robustness (VOT multistart: share of frames tracked before a failure)",
}


def measures_note(columns: list[Column]) -> str:
    """A sentence naming what each evaluation column measures (the field reuses names such as SR)."""
    words = []
    for column in columns:
        if column.mlflow is None:
            continue
        measure = MEASURES.get(column.mlflow) or MEASURES.get(column.mlflow.rsplit("/", 1)[-1])
        if measure and f"{column.header}: {measure}" not in words:
            words.append(f"{column.header}: {measure}")
    return f"Measures: {'; '.join(words)}." if words else ""


@dataclass
class Cell:
    value: float | None
    std: float | None = None
    runs: tuple[str, ...] = ()
    source: str = ""
    flagged: str = ""  # a published number's known issue
    rank: int | None = None  # 1 best, 2 second best of its column
    intervals: dict[str, Interval] = field(default_factory=dict)  # difference to a reference label

    @property
    def n(self) -> int:
        """Seeds behind the value."""
        return len(self.runs)


@dataclass
class Row:
    name: str
    kind: str  # "published", "ours" or "baseline"
    cells: dict[Column, Cell]


@dataclass
class Table:
    key: str
    title: str
    caption: str
    columns: list[Column]
    rows: list[Row]
    sweep: str | None = None  # the study.sweeps entry whose points the rows are (trade-off tables)


class Builder:
    """Builds every table of a study; collects problems so that one run reports all of them."""

    def __init__(self, cfg: Config, runs: StudyRuns, published: pd.DataFrame) -> None:
        self.cfg, self.runs, self.published = cfg, runs, published
        self.study = Study(cfg)
        self.problems: list[str] = []

    def columns(self, benchmarks: list[str], headline_only: bool = False) -> list[Column]:
        return [Column(b, name, metric) for b in benchmarks for name, metric in READERS[b].columns
                if not headline_only or name == READERS[b].headline]

    def benchmarks(self, *modalities: str) -> list[str]:
        """The benchmarks the modalities' trackers are evaluated on, in table order."""
        return [b for b in READERS if any(b in self.study.eval_datasets(m) for m in modalities)]

    def synthetic(self, columns: list[Column]) -> bool:
        return any(self.study.is_synthetic(c.benchmark) for c in columns)

    def ours(self, label: str, columns: list[Column], one_stream: bool = False) -> Row:
        """Our row of `label`: one cell per column, over the study's seeds (the baseline: study.seed).
        `one_stream`: the baseline's RGB scores of the one-stream RGB tracker instead of the untuned
        RGB-X tracker."""
        seeds = [self.cfg.study.seed] if label == BASELINE else list(self.cfg.study.seeds)
        cells = {}
        for column in columns:
            values, ids = [], []
            for seed in seeds:
                tuned_on = None if one_stream else column.tuned_on
                run = self.runs.evaluation(column.benchmark, label, seed, tuned_on)
                if run is None:
                    where = column.benchmark + (f" (tuned on {tuned_on})" if tuned_on else "")
                    self.problems.append(f"no finished evaluation run of {label} (seed {seed}) on {where}")
                    continue
                value = run.get(f"metrics.{column.mlflow}")
                if value is None or pd.isna(value):
                    self.problems.append(f"run {run['run_id']} ({label} on {column.benchmark}) has no metric "
                                         f"{column.mlflow}")
                    continue
                self.check_run(run, column, float(value))
                values.append(float(value) * 100)
                ids.append(run["run_id"])
            mean = statistics.fmean(values) if values else None
            std = statistics.stdev(values) if len(values) > 1 else None
            cells[column] = Cell(mean, std, tuple(ids))
        return Row(label, "ours" if label != BASELINE and self.study.label(label).method in SRFT_METHODS else "baseline",
                   cells)

    def check_run(self, run: pd.Series, column: Column, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            self.problems.append(f"run {run['run_id']}: {column.mlflow} = {value} is outside [0, 1]")
        if column.mlflow == "vot_longterm/f_score":
            pr, re_ = run.get("metrics.vot_longterm/precision"), run.get("metrics.vot_longterm/recall")
            expected = f_measure(pr, re_)
            if abs(value - expected) > 1e-9:
                self.problems.append(f"run {run['run_id']}: F {value} is not 2PrRe/(Pr+Re) = {expected} "
                                     f"(Pr {pr}, Re {re_})")

    def published_rows(self, columns: list[Column]) -> list[Row]:
        rows = []
        for tracker, group in self.published.groupby("tracker", sort=False):
            cells = {}
            for column in columns:
                hit = group[(group["benchmark"] == column.benchmark) & (group["metric"] == column.metric)]
                if not hit.empty:
                    first = hit.iloc[0]
                    cells[column] = Cell(float(first["value"]), source=f"{first['source']}; {first['evaluator']}",
                                         flagged=first["known_issue"])
            if cells:
                rows.append(Row(str(tracker), "published", cells))
        return rows

    def table(self, key: str, title: str, caption: str, columns: list[Column], labels: list[str],
              with_published: bool) -> Table:
        synthetic = self.synthetic(columns)
        rows = self.published_rows(columns) if with_published and not synthetic else []
        rows += [self.ours(label, columns) for label in labels]
        caption = f"{caption} {measures_note(columns)}".rstrip()
        if synthetic:
            caption = f"{caption} {SYNTHETIC_NOTE}"
        table = Table(key, title, caption, columns, rows)
        mark_best(table)
        self.add_intervals(table)
        return table

    def add_intervals(self, table: Table) -> None:
        """Each of our cells' paired bootstrap interval against full fine-tuning and the pretrained
        tracker, where the evaluation runs hold per-sequence scores."""
        for column in table.columns:
            if column.mlflow is None:
                continue
            # a reference the study does not run has no runs, hence no scores and no intervals
            for reference in REFERENCES:
                self.intervals_against(table, column, reference, self.reference_runs(reference, column))

    def intervals_against(self, table: Table, column: Column, reference: str, runs: tuple[str, ...]) -> None:
        """Each of our cells' paired bootstrap interval against the tracker behind `runs` (`reference`)."""
        other = self.sequence_scores(runs, column)
        if other is None:
            return
        for row in table.rows:
            cell = row.cells.get(column)
            if row.kind == "published" or row.name == reference or cell is None or cell.value is None:
                continue
            scores = self.sequence_scores(cell.runs, column)
            interval = paired_bootstrap(scores, other) if scores is not None else None
            if interval is not None:
                cell.intervals[reference] = interval

    def reference_runs(self, label: str, column: Column) -> tuple[str, ...]:
        """The runs behind `label`'s cell of `column`, as `ours` finds them (the baseline: the untuned
        RGB-X tracker, also on RGB)."""
        seeds = [self.cfg.study.seed] if label == BASELINE else list(self.cfg.study.seeds)
        runs = [self.runs.evaluation(column.benchmark, label, seed, column.tuned_on) for seed in seeds]
        return tuple(run["run_id"] for run in runs if run is not None)

    def sequence_scores(self, run_ids: tuple[str, ...], column: Column):
        tables = [self.runs.per_sequence(run_id) for run_id in run_ids]
        if not tables or any(t is None for t in tables):
            return None
        profile, metric = column.mlflow.split("/", 1)
        return seed_mean(tables, metric, profile)

    def main_tables(self) -> list[Table]:
        tables = []
        for modality in self.study.tuned_modalities():
            benchmarks = self.benchmarks(modality)
            labels = [m for m in self.study.label_names(modality) if m in self.cfg.study.methods]
            if not benchmarks or not labels:
                continue
            name = MODALITY_NAMES[modality]
            tables.append(self.table(
                f"{MAIN_PREFIX}{modality}", f"{name}: comparison", f"{name} tracking, in the layout of the field's tables "
                "(percent; ours: SRFT and its parts, baselines: the other methods, both trained here: mean over seeds, +- std when there are several; best in bold, second best in italics (underlined in LaTeX); "
                "published rows carry their source and evaluator).", self.columns(benchmarks),
                labels + [BASELINE], with_published=True))
        return tables

    def ablation_tables(self) -> list[Table]:
        tables = []
        for modality, extra in self.cfg.study.ablations.items():
            if not extra or modality not in self.study.tuned_modalities():
                continue
            labels = self.study.label_names(modality)
            ordered = [m for m in ABLATION_ORDER if m in labels] + [m for m in labels if m in extra
                                                                    and m not in ABLATION_ORDER]
            benchmarks = self.benchmarks(modality)
            name = MODALITY_NAMES[modality]
            tables.append(self.table(
                f"ablation_{modality}", f"{name}: ablation", f"Ablation of SRFT's components on {name} "
                "(full fine-tuning; + prior sensitivity only; + transfer sensitivity only; both = SRFT; variants "
                f"as configured: {self.variant_notes(ordered) or 'none'}).", self.columns(benchmarks), ordered,
                with_published=False))
            tables += self.sweep_tables(modality, labels, benchmarks)
        return tables

    def variant_notes(self, labels: list[str]) -> str:
        variants = self.cfg.study.variants
        return "; ".join(f"{m} = {variants[m].method} with " + ", ".join(f"{k}={v}" for k, v in variants[m].set.items())
                         for m in labels if m in variants)

    def sweep_tables(self, modality: str, labels: list[str], benchmarks: list[str]) -> list[Table]:
        """Variants of one method that set the same keys (a kappa or rank sweep) get a table of their own."""
        groups: dict[tuple, list[str]] = {}
        for label in labels:
            variant = self.cfg.study.variants.get(label)
            if variant:
                groups.setdefault((variant.method, tuple(sorted(variant.set))), []).append(label)
        tables = []
        for (method, keys), members in groups.items():
            if len(members) < 2:
                continue
            name = MODALITY_NAMES[modality]
            tables.append(self.table(
                f"sweep_{modality}_{'_'.join(k.split('.')[-1] for k in keys)}", f"{name}: sweep of {', '.join(keys)}",
                f"{method} on {name} with {', '.join(keys)} varied: {self.variant_notes(members)}.",
                self.columns(benchmarks), members, with_published=False))
        return tables

    def paradigm_table(self) -> list[Table]:
        labels = [m for m in PARADIGMS if m in self.cfg.study.methods]
        if len(labels) < 2:
            return []
        benchmarks = self.benchmarks(*self.study.tuned_modalities())
        columns = self.columns(benchmarks, headline_only=True)
        table = self.table("paradigms", "Fine-tuning paradigms", "Full fine-tuning, prompt tuning (ViPT-style), "
                           "LoRA and SRFT: headline score per benchmark (percent) and trainable parameters "
                           f"(millions, {self.cfg.model.name} family).", columns, labels, with_published=False)
        return [self.with_trainable(table)]

    def with_trainable(self, table: Table) -> Table:
        """Append the trainable-parameter column (from the tuning runs; not ranked)."""
        params = Column("", "trainable params (M)", decimals=3)
        table.columns.append(params)
        for row in table.rows:
            row.cells[params] = self.trainable(row.name)
        return table

    def compatibility_table(self) -> list[Table]:
        """Each PEFT paradigm beside its SRFT variants (variants that set model.name to that family)."""
        everywhere = {m for modality in self.study.tuned_modalities() for m in self.study.label_names(modality)}
        labels = []
        for family in PEFT_TRACKERS:
            combined = [v for v in self.cfg.study.variants if v in everywhere
                        and peft_family(self.study.label(v).model) == family]
            labels += ([family] if combined and family in everywhere else []) + combined
        if not labels:
            return []
        modalities = [m for m in self.study.tuned_modalities() if set(labels) <= set(self.study.label_names(m))]
        benchmarks = self.benchmarks(*modalities)
        if not benchmarks:
            self.problems.append(f"compatibility: no modality tunes all of {labels}")
            return []
        prompt_note = (" SRFT's prior constrains backbone weights, which prompt tuning freezes: on the prompt "
                       "tracker only its transfer term (transfer_only) applies." if "prompt" in labels else "")
        table = self.table("compatibility", "Compatibility with PEFT", "Prompt tuning and LoRA alone and with SRFT "
                           f"({self.variant_notes(labels)}): headline score per benchmark (percent) and trainable "
                           "parameters (millions). On LoRA, B and A get the prior of the weight they adapt "
                           f"(docs/method.md).{prompt_note}", self.columns(benchmarks, headline_only=True), labels,
                           with_published=False)
        return [self.with_trainable(table)]

    def plasticity_columns(self, modality: str) -> tuple[list[Column], str] | None:
        """The modality's headline column and the retained RGB column, with the caption's words for
        them; None without retention or a test split."""
        split = self.study.retention_split()
        benchmarks = self.benchmarks(modality)
        if split is None or not benchmarks:
            return None
        rgb = READERS[split[0]]
        metric = dict(rgb.columns)[rgb.headline]
        columns = [*self.columns(benchmarks[:1], headline_only=True),
                   Column(split[0], f"{rgb.headline} (RGB, retained)", metric, tuned_on=modality)]
        words = (f"{MODALITY_NAMES[modality]} gains ({columns[0].header}) against what it keeps of RGB tracking ({rgb.title} "
                 f"{split[1]} split, first {self.cfg.evaluate.retention.sequences} sequences, RGB frames fed as X too; "
                 f"percent). The pretrained row: the untuned RGB-X tracker (the pretrained weights in "
                 f"{self.cfg.model.name}, where tuning starts); {RGB_TRACKER}: the one-stream RGB tracker they come from "
                 f"({rgb_counterpart(self.cfg.model.name)}) on RGB.")
        return columns, words

    def with_rgb_tracker(self, table: Table) -> Table:
        """Append the one-stream RGB tracker's RGB score (not ranked), the stability reference, and measure
        every retained score against it (did tuning forget, beyond the noise?)."""
        retained = [c for c in table.columns if c.tuned_on]
        reference = Row(RGB_TRACKER, "baseline", self.ours(BASELINE, retained, one_stream=True).cells)
        for column in retained:
            if column in reference.cells:
                self.intervals_against(table, column, RGB_TRACKER, reference.cells[column].runs)
        table.rows.append(reference)
        return table

    def plasticity_tables(self) -> list[Table]:
        """Per modality: the X-modality headline score beside the RGB score each tracker retains (the
        sweeps' labels have trade-off tables of their own)."""
        tables = []
        swept = self.study.swept_labels()
        for modality in self.study.plasticity_modalities():
            found = self.plasticity_columns(modality)
            labels = [m for m in self.study.label_names(modality) if m not in swept]
            if found is None:
                continue
            columns, words = found
            tables.append(self.with_rgb_tracker(self.table(
                f"plasticity_{modality}", f"{MODALITY_NAMES[modality]}: plasticity and stability",
                f"What tuning on {words}", columns, [*labels, BASELINE], with_published=False)))
        return tables

    def tradeoff_tables(self) -> list[Table]:
        """Per sweep and modality: each (label, value) point's headline score and retained RGB score."""
        tables = []
        for sweep, modality in self.study.sweep_modalities():
            found = self.plasticity_columns(modality)
            if found is None:
                continue
            columns, words = found
            spec = self.cfg.study.sweeps[sweep]
            table = self.table(
                f"tradeoff_{sweep}_{modality}", f"{MODALITY_NAMES[modality]}: trade-off over {spec.title}",
                f"{', '.join(spec.labels)} with {spec.key} at {', '.join(map(str, spec.values))} (rows "
                f"<label>_{sweep}_<value>): what tuning on {words}", columns,
                [p.name for p in self.study.sweep_points(sweep)] + [BASELINE], with_published=False)
            table.sweep = sweep
            tables.append(self.with_rgb_tracker(table))
        return tables

    def trainable(self, label: str) -> Cell:
        for modality in self.study.tuned_modalities():
            run = self.runs.tuning(modality, label, self.cfg.study.seeds[0])
            if run is not None and not pd.isna(run.get("params.run/params_trainable")):
                return Cell(int(run["params.run/params_trainable"]) / 1e6, runs=(run["run_id"],))
        self.problems.append(f"no finished tuning run of {label} (seed {self.cfg.study.seeds[0]}) with a parameter count")
        return Cell(None)

    def notes(self) -> list[str]:
        """What the tables leave out, said once."""
        notes = []
        labels = [self.study.label(v) for v in self.cfg.study.variants]
        if not any(peft_family(label.model) not in (None, label.method) for label in labels):
            notes.append("No compatibility table: the study has no variant that sets model.name to a PEFT tracker "
                         "(e.g. lora_srft: {method: srft, set: {model.name: srtrack_lora_tiny}}).")
        if self.study.retention_split() is None:
            notes.append("evaluate.retention is off: no plasticity-stability table.")
        return notes


def mark_best(table: Table) -> None:
    """Rank 1 and 2 per column (higher is better for every metric here), over all rows with a value."""
    for column in table.columns:
        values = sorted({round(r.cells[column].value, 6) for r in table.rows
                         if column in r.cells and r.cells[column].value is not None}, reverse=True)
        for row in table.rows:
            cell = row.cells.get(column)
            if cell is not None and cell.value is not None and values:
                position = values.index(round(cell.value, 6))
                cell.rank = position + 1 if position < 2 else None


def build_tables(cfg: Config, runs: StudyRuns, published: pd.DataFrame) -> tuple[list[Table], list[str]]:
    """Every table the study supports, and the notes; raises ReportError listing every problem."""
    builder = Builder(cfg, runs, published)
    tables = (builder.main_tables() + builder.ablation_tables() + builder.paradigm_table()
              + builder.compatibility_table() + builder.plasticity_tables() + builder.tradeoff_tables())
    problems = [f"published results: {p}" for p in check_published(published)] + builder.problems
    if problems:
        raise ReportError("the tables cannot be built:\n  " + "\n  ".join(problems))
    return tables, builder.notes()
