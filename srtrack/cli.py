"""`srtrack <stage> ...`: the console script, equivalent to `python -m srtrack.<stage> ...`."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

STAGES = ("synth", "prepare", "sensitivity", "tune", "evaluate", "compare", "report", "launch")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in STAGES:
        print(f"usage: srtrack {{{','.join(STAGES)}}} [options]   (srtrack <stage> --help for a stage's options)",
              file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"srtrack.{args[0]}")
    return module.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
