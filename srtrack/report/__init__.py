"""The paper's tables from the MLflow store (`python -m srtrack.report`): our rows from evaluation
runs found with `mlflow.search_runs`, competitors' rows from the shipped published-results CSV,
never numbers typed into code. Layouts and checks: tables.py; sources: runs.py, published.py;
output formats: render.py."""
