"""`python -m srtrack.relocate STORE`: point a moved SQLite MLflow store at its artifacts again.

    python -m srtrack.relocate results/mlflow.db

MLflow records every artifact location as an absolute URI (it makes a relative one absolute when it
stores it), so a study's `results/` copied or moved elsewhere (another checkout, another machine)
holds a store whose runs point at the old `mlartifacts/` folder. This rewrites, in one transaction,
every location under the old folder to the `mlartifacts/` beside the database; a second call changes
nothing. Stages refuse a moved store until it is relocated (they would write beside the old copy).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Sequence

from srtrack.errors import ConfigError
from srtrack.io import require_file
from srtrack.layout import MLFLOW_ARTIFACTS_DIR

# where MLflow's schema keeps artifact locations (model_versions: for models registered from runs)
LOCATION_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                    ("logged_models", "artifact_location"), ("model_versions", "storage_location"),
                    ("model_versions", "source"))


def artifact_root(db: Path) -> str:
    """The artifact folder of a SQLite store as srtrack creates it: `mlartifacts/` beside the file."""
    return (db.resolve().parent / MLFLOW_ARTIFACTS_DIR).as_uri()


def recorded_root(location: str) -> str | None:
    """The `.../mlartifacts` folder an experiment's artifact location lies in; None for one that is
    not srtrack's layout (an object store, a folder chosen by hand)."""
    marker = f"/{MLFLOW_ARTIFACTS_DIR}/"
    return location[:location.rindex(marker) + len(marker) - 1] if marker in location else None


def moved_from(db: Path, experiment_location: str) -> str | None:
    """The old artifact folder when `db` was moved since its experiment was created, else None."""
    old = recorded_root(experiment_location)
    return old if old is not None and old != artifact_root(db) else None


def relocate(db: Path) -> dict[str, int]:
    """Rewrite every location under the store's recorded artifact folder(s) to its own; returns the
    rows changed per table."""
    require_file(db, "MLflow SQLite store")
    new = artifact_root(db)
    with sqlite3.connect(db) as connection:  # one transaction: all rows or none
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "experiments" not in tables:
            raise ConfigError(f"{db} is not an MLflow store (no experiments table)")
        olds = {recorded_root(location) for (location,) in connection.execute(
            "SELECT artifact_location FROM experiments")} - {None, new}
        changed: dict[str, int] = {}
        for table, column in LOCATION_COLUMNS:
            if table not in tables:
                continue
            for old in sorted(olds):
                cursor = connection.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) WHERE substr({column}, 1, ?) = ?",
                    (new, len(old) + 1, len(old), old))
                changed[table] = changed.get(table, 0) + cursor.rowcount
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    from srtrack.cli_common import run_main

    parser = argparse.ArgumentParser(prog="python -m srtrack.relocate", description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path, help="the SQLite file of the moved store (e.g. results/mlflow.db)")
    args = parser.parse_args(argv)

    def body() -> int:
        changed = relocate(args.store)
        counts = ", ".join(f"{n} {table}" for table, n in changed.items() if n) or "nothing (already in place)"
        print(f"relocate: {args.store} -> {artifact_root(args.store)}: {counts}", file=sys.stderr)
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
