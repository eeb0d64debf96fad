"""`python -m srtrack.models`: parameter counts (total, trainable) of every registered tracker.

    python -m srtrack.models [--sizes 128 256] [--json counts.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from srtrack.models.trackers import TRACKERS, create_tracker


def parameter_table(template_size: int, search_size: int) -> dict[str, dict[str, int]]:
    """Counts of every registered tracker at the given input sizes."""
    return {name: create_tracker(name, template_size=template_size, search_size=search_size).parameter_report()
            for name in sorted(TRACKERS)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srtrack.models", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs=2, type=int, default=[128, 256], metavar=("TEMPLATE", "SEARCH"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(None if argv is None else list(argv))
    table = parameter_table(*args.sizes)
    print(f"{'tracker':20s} {'total':>14s} {'trainable':>14s}   ({args.sizes[0]}/{args.sizes[1]})")
    for name, counts in table.items():
        print(f"{name:20s} {counts['total']:14,d} {counts['trainable']:14,d}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
