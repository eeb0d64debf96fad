"""`python -m srtrack.report`: the study's tables from the MLflow store.

    python -m srtrack.report --config config/config.yaml --out results/report [--published my.csv]

Reads the newest finished evaluation (and tuning) runs of `study.name` with `mlflow.search_runs`
and the published-results CSV, checks both (srtrack/report/tables.py), and writes `tables.md`,
`tables.csv` (every cell with its MLflow run ids or source), one booktabs `<table>.tex` per
table, the plasticity-stability scatter (`plasticity_stability.png`/`.pdf`) and the trade-off curves of
each study sweep on each modality (`tradeoff_<sweep>_<modality>.png`/`.pdf`), logged to MLflow.
Exit 1, listing every problem, when a table cannot be built honestly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from srtrack.cli_common import add_config_arguments, config_from_args, parse, run_main
from srtrack.io import Publication, prepare_output_dir, write_text_atomic


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.report", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output folder (tables.md, tables.csv, *.tex)")
    parser.add_argument("--published", type=Path, default=None,
                        help="published-results CSV (default: the shipped srtrack/resources/published_results.csv)")
    return parser


def report(args: argparse.Namespace) -> int:
    from srtrack.report.plots import plasticity_plot, tradeoff_plot
    from srtrack.study import Study
    from srtrack.report.published import load_published
    from srtrack.report.render import html_page, latex, long_csv, markdown, table_metrics
    from srtrack.report.runs import collect_runs
    from srtrack.report.tables import MAIN_PREFIX, build_tables
    from srtrack.layout import (CELLS_FILE, PLASTICITY_PLOT, TABLES_FILE, TABLES_HTML, compare_dir,
                                retention_compare_dir, sequence_plot, tradeoff_plot as tradeoff_file)
    from srtrack.report.sequences import sequence_differences, sequence_heatmap
    from srtrack.mlflow_delivery import SCORED_BY_TAG
    from srtrack.mlflow_server import NOTE_TAG
    from srtrack.mlflow_runs import connect, leads_to_notes, log_study_summary, scored_by, stage_run, tracking_uri
    from srtrack.report.summary import SUMMARY_ARTIFACT, study_summary

    cfg = config_from_args(args)
    connect(cfg)  # the server answers, and what an outage left in the spool is in the store before it is read
    runs = collect_runs(cfg, tracking_uri(cfg))
    tables, notes = build_tables(cfg, runs, load_published(args.published))
    prepare_output_dir(args.out)
    study = Study(cfg)
    # published together, tables.md (the DAG's output) last, or not at all
    with Publication(args.out, last=TABLES_FILE) as staged:
        files = [staged.dir / TABLES_FILE, staged.dir / CELLS_FILE, staged.dir / TABLES_HTML]
        write_text_atomic(files[0], markdown(tables, notes, runs.warnings))
        write_text_atomic(files[1], long_csv(tables))
        write_text_atomic(files[2], html_page(tables, notes))
        for table in tables:
            files.append(staged.dir / f"{table.key}.tex")
            write_text_atomic(files[-1], latex(table))
        plots = [plasticity_plot(tables, staged.dir / PLASTICITY_PLOT)]
        for table in (t for t in tables if t.sweep is not None):
            modality = table.columns[1].tuned_on
            plots.append(tradeoff_plot(table, study.sweep_points(table.sweep), cfg.study.sweeps[table.sweep].title,
                                       staged.dir / tradeoff_file(table.sweep, modality)))
        for table in (t for t in tables if t.key.startswith(MAIN_PREFIX)):
            for found in sequence_differences(table, runs):
                plots.append(sequence_heatmap(found, staged.dir / sequence_plot(found.column.benchmark,
                                                                                 found.column.tuned_on)))
        files += [f for plot in plots if plot is not None for f in (plot, plot.with_suffix(".pdf"))]
    files = [staged.final(path) for path in files]
    benchmarks = sorted({b for b in runs.runs.get("tags.dataset", []) if isinstance(b, str)})
    comparisons = [Path(compare_dir(cfg.study.output_dir, b)) for b in benchmarks]
    comparisons.append(Path(retention_compare_dir(cfg.study.output_dir)))
    with stage_run(cfg, "report", name="report", sections=("study", "evaluate.retention"),
                   parent_run_id=args.parent_run_id) as run:
        for path in files:
            run.log_artifact(path, "report")
        for folder in comparisons:  # every tracker of a benchmark (or on the RGB split) on the same plots
            for path in sorted(folder.glob("*.png")) if folder.is_dir() else []:
                run.log_artifact(path, f"comparison/{folder.parent.name}")
        run.log_metrics(table_metrics(tables), 0)
        rows = runs.tag_rows()  # each run's links to the runs and models it leads to
        for run_id, note in leads_to_notes(rows, run.experiment_id).items():
            run.tag_other_run(run_id, {NOTE_TAG: note})
        for model_id, evaluations in scored_by(rows).items():
            run.tag_model(model_id, {SCORED_BY_TAG: evaluations})
        summary = study_summary(runs)
        if not summary.empty:
            log_study_summary(cfg, run, summary, SUMMARY_ARTIFACT)
    for warning in runs.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"report: {len(tables)} tables from {len(runs.runs)} runs -> {files[0]}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    return run_main(lambda: report(args))


if __name__ == "__main__":
    sys.exit(main())
