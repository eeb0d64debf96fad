"""`python -m srtrack.export`: a pre-trained tracker (`model.pth`) as a `.safetensors` file to ship.

    python -m srtrack.export --config config/config.yaml --config config/rgb-tracker.yaml \\
        --checkpoint results/pretrain/model.pth --out checkpoints/embedded-default-rgb.safetensors

The file holds the same tensors and network record as `model.pth` (read back by
`srtrack.models.files.read_checkpoint`, which never runs code from it) plus its provenance: the
sha256 of the source file, the pre-training run's key and probe scores (its `metrics.json`), the
config sections the weights depend on, the seed and the command that rebuilds it. The provenance is
also written beside it as `<name>.json`, with the sha256 of the exported file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from srtrack.cli_common import add_config_arguments, config_from_args, parse, run_main
from srtrack.config import Config, config_to_dict
from srtrack.errors import ConfigError
from srtrack.io import file_sha256, require_file, write_bytes_atomic, write_json_atomic
from srtrack.layout import METRICS_FILE

# what the pre-trained weights depend on (the pretrain rule's fingerprint, and the data it is made from)
PROVENANCE_SECTIONS = ("synth", "pretrain", "sampler", "encoding")
REBUILD = "make rgb-tracker"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.export", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--checkpoint", required=True, type=Path, help="our model.pth (a pre-training run's)")
    parser.add_argument("--out", required=True, type=Path, help="the .safetensors file to write")
    return parser


def provenance(cfg: Config, checkpoint: Path, network: str) -> dict:
    """How the weights were made: source digest, run record, config sections, seed, rebuild command."""
    data = config_to_dict(cfg)
    metrics_path = checkpoint.parent / METRICS_FILE
    run = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return {
        "source": checkpoint.name,
        "source_sha256": file_sha256(checkpoint),
        "run_key": run.get("run_key"),
        "steps": run.get("steps"),
        "probe_after": run.get("probe_after"),
        "seed": cfg.study.seed,
        "network": network,
        # model.name is the RGB-X tracker the file initialises; the file holds `network`
        "model": {k: v for k, v in data["model"].items() if k not in ("name", "pretrained")},
        "config": {section: data[section] for section in PROVENANCE_SECTIONS},
        "rebuild": REBUILD,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)

    def body() -> int:
        from srtrack.models.files import SAFETENSORS_SUFFIX, export_tracker, read_checkpoint

        if not args.out.name.endswith(SAFETENSORS_SUFFIX):
            raise ConfigError(f"--out {args.out}: the file name must end in {SAFETENSORS_SUFFIX}")
        cfg = config_from_args(args)
        require_file(args.checkpoint, "--checkpoint")
        checkpoint = read_checkpoint(args.checkpoint)
        record = provenance(cfg, args.checkpoint, (checkpoint.network or {}).get("name", "?"))
        write_bytes_atomic(args.out, export_tracker(checkpoint, record))
        sidecar = args.out.with_name(args.out.name[: -len(SAFETENSORS_SUFFIX)] + ".json")
        digest, size = file_sha256(args.out), args.out.stat().st_size
        write_json_atomic(sidecar, {**record, "sha256": digest, "bytes": size})
        print(f"export: {args.out} ({size / 2**20:.1f} MiB, sha256 {digest[:12]}); "
              f"provenance in {sidecar}", file=sys.stderr)
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
