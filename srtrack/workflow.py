"""Helpers the Snakemake workflow imports: output layout, targets, and the resolved config file.

Kept here rather than in workflow/rules/common.smk so that it is importable and unit-tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from srtrack.config import Config, config_to_dict
from srtrack.datasets import READERS
from srtrack.io import write_text_atomic

RESOLVED_CONFIG = "config.resolved.yaml"


def index_path(out_dir: Path | str, dataset: str, split: str) -> str:
    """Where `prepare` writes the index of one benchmark split."""
    return f"{out_dir}/data/{dataset}-{split}/index.json"


def prepare_targets(cfg: Config) -> list[str]:
    """Index files of every benchmark split whose root is configured."""
    targets = []
    for name, reader in sorted(READERS.items()):
        if getattr(cfg.datasets, name).root is None:
            continue
        targets.extend(index_path(cfg.study.output_dir, name, split) for split in reader.splits)
    return targets


def write_resolved_config(cfg: Config) -> str:
    """Write the merged, validated config next to the outputs; rewritten only when it changes.

    Rules take this file as their `--config`, so a stage sees exactly what Snakemake validated,
    including `--config key=value` overrides, and a config change makes the file newer.
    """
    path = Path(cfg.study.output_dir) / RESOLVED_CONFIG
    text = "# written by the srtrack workflow from the merged config; do not edit\n" + yaml.safe_dump(
        config_to_dict(cfg), sort_keys=False)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)
    return str(path)


def config_sources(workflow: Any) -> list[Path]:
    """Config files in the order they were merged: the Snakefile's `configfile:`, then --configfile.

    Snakemake lists the command-line files first in `workflow.configfiles` although they are
    applied last; error messages need the real order to name the file that set a key.
    """
    cli = [Path(f) for f in workflow.overwrite_configfiles or ()]
    return [Path(f) for f in workflow.configfiles if Path(f) not in cli] + cli


def wildcard_constraints() -> Mapping[str, Any]:
    """Regexes for the workflow's wildcards."""
    return {"dataset": "|".join(sorted(READERS)), "split": "train|test"}
