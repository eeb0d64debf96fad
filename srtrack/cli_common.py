"""What every stage CLI shares: the config arguments, logging set-up and error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from srtrack.config import Config, load_config
from srtrack.study import Label, Study
from srtrack.errors import (EXIT_CONFIG_ERROR, EXIT_DATA_ERROR, ConfigError, DatasetFormatError, SrtrackError,
                            describe_os_error)

__all__ = ["EXIT_CONFIG_ERROR", "EXIT_DATA_ERROR", "add_config_arguments", "config_from_args", "config_for_label",
           "parse", "run_main"]


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` (repeatable, later files win), `--set KEY=VALUE` (repeatable), `--parent-run-id`."""
    parser.add_argument("--config", action="append", type=Path, required=True, metavar="FILE",
                        help="config YAML; repeat to layer files (e.g. config/config.yaml my-study.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one config value, e.g. --set study.seed=3 (value parsed as YAML)")
    parser.add_argument("--parent-run-id", default=None,
                        help="MLflow run to nest this stage's run under (default: $SRTRACK_PARENT_RUN_ID or the study run)")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def config_for_label(args: argparse.Namespace, cfg: Config, label: str, *, model: str | None = None,
                     only: str | None = None) -> tuple[Config, Label]:
    """A stage's effective config for a study label: the study's config (`cfg`, as `config_from_args`
    loaded it) with the label's method, network and settings applied (`model` replaces the network,
    `only` keeps the assignments under one section), then the command line's own `--set`s. Returns it
    with the resolved label."""
    resolved = Study(cfg).label(label)
    assignments = resolved.assignments()
    if only is not None:
        assignments = [a for a in assignments if a.startswith(f"{only}.")]
    assignments += [f"model.name={model}"] if model else []
    return load_config(args.config, [*assignments, *args.overrides]), resolved


def run_main(body: Callable[[], int]) -> int:
    """Run a CLI body; SrtrackErrors and filesystem faults (a full disk, a read-only folder) become
    one message on stderr and an exit code, not a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return body()
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except DatasetFormatError as exc:  # its lines carry their own "error:" / "warning:"
        print(exc, file=sys.stderr)
        return EXIT_DATA_ERROR
    except SrtrackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except OSError as exc:
        logging.getLogger("srtrack").debug("filesystem fault", exc_info=True)
        print(f"error: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_DATA_ERROR


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    return parser.parse_args(None if argv is None else list(argv))
