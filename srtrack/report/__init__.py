"""The paper's tables from the MLflow store (`python -m srtrack.report`): our rows from evaluation
runs found with `mlflow.search_runs`, competitors' rows from the shipped published-results CSV,
never numbers typed into code. Layouts and checks: tables.py; sources: runs.py, published.py;
output formats: render.py."""


def main(argv=None) -> int:
    """`srtrack report ...` (the console script) = `python -m srtrack.report ...`."""
    from srtrack.report.__main__ import main as report_main

    return report_main(argv)
