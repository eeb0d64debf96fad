"""`python -m srtrack.sensitivity`: prior sensitivity of the pretrained RGB tracker on RGB pairs.

    python -m srtrack.sensitivity --config config/config.yaml --data results/data/got10k-train \
        --checkpoint OSTrack_ep0300.pth.tar --out results/prior/ostrack

N = `sensitivity.samples` template/search pairs are drawn from the prepared RGB data exactly as in
training (srtrack/datasets/loader.py), per-sample gradients of the tracking loss are taken at the
pretrained weights in chunks of `sensitivity.chunk` (torch.func vmap), and the diagonal Fisher plus
the two-sided top-k eigenvectors of every weight matrix are written to `prior.safetensors`, with
`summary.json` (cache key, timings, per-parameter energy and effective rank) and two plots. A result
whose cache key (checkpoint hash, data, N, k / energy, loss, sampler, sizes, seed) matches is reused.
The RGB tracker is the one-stream counterpart of `model.name` (srtrack_tiny -> ostrack_tiny);
`--allow-random-init` computes it at random weights (tests and smoke runs only).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

from srtrack.cli_common import add_config_arguments, config_for_label, config_from_args, parse, run_main
from srtrack.config import Config, config_to_dict
from srtrack.errors import ConfigError
from srtrack.io import (Publication, file_sha256, json_sha256, prepare_output_dir, require_file, write_bytes_atomic,
                        write_json_atomic, write_text_atomic)
from srtrack.layout import PRIOR_FILE, RUN_ID_FILE, SUMMARY_FILE
from srtrack.mlflow_runs import stage_run
from srtrack.study import BASELINE, rgb_counterpart

log = logging.getLogger(__name__)
SECTIONS = ("study", "model", "sensitivity", "sampler", "encoding")  # what the prior depends on


def cache_key(cfg: Config, checkpoint_hash: str, data_index: dict, model_name: str) -> str:
    """Everything the artifact depends on, hashed."""
    model = config_to_dict(cfg)["model"]
    parts = {"checkpoint": checkpoint_hash, "data": [s["boxes_sha256"] for s in data_index["sequences"]],
             "model": [model_name, {k: v for k, v in model.items() if k not in ("name", "pretrained")}],
             "sensitivity": config_to_dict(cfg)["sensitivity"], "sampler": config_to_dict(cfg)["sampler"],
             "loss": "ostrack focal/giou/l1 1/2/5", "seed": cfg.study.seed}
    return json_sha256(parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m srtrack.sensitivity", description=__doc__.split("\n")[0])
    add_config_arguments(parser)
    parser.add_argument("--data", required=True, type=Path, help="prepared RGB split (folder with index.json)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--checkpoint", type=Path, default=None, help="pretrained tracker (default: model.pretrained)")
    parser.add_argument("--label", default=None,
                        help="a study.variants entry whose sensitivity.* settings (an N or rank sweep) this prior uses")
    parser.add_argument("--allow-random-init", action="store_true",
                        help="without a checkpoint, use random weights (tests, smoke runs)")
    return parser


def compute(cfg: Config, data: Path, checkpoint: Path | None, model_name: str) -> tuple[dict, dict, dict]:
    """Load model and data, extract the prior; returns (tensors, per-parameter summary, timing)."""
    import torch

    from srtrack.datasets.index import load_sequences
    from srtrack.datasets.loader import PairDataset, make_loader
    from srtrack.method.prior import extract_prior
    from srtrack.models.losses import objective
    from srtrack.models.networks import announce, network_for

    torch.manual_seed(cfg.study.seed)
    model, spec, loaded = network_for(cfg.model, checkpoint, name=model_name)
    announce("sensitivity", spec, loaded)
    report = loaded.to_json() if loaded else None
    sequences = load_sequences(data, cfg.datasets)
    dataset = PairDataset([sequences], [1.0], cfg.sampler, template_size=cfg.model.template_size,
                          search_size=cfg.model.search_size, encoding=cfg.encoding, seed=cfg.study.seed,
                          samples_per_epoch=cfg.sensitivity.samples)
    loader = make_loader(dataset, cfg.sensitivity.chunk, workers=0)
    started = time.perf_counter()
    tensors, summary = extract_prior(model, loader, objective, rank=cfg.sensitivity.rank, energy=cfg.sensitivity.energy)
    seconds = time.perf_counter() - started
    n = (cfg.sensitivity.samples // cfg.sensitivity.chunk) * cfg.sensitivity.chunk
    return tensors, summary, {"seconds": seconds, "samples": n, "samples_per_s": n / seconds, "load_report": report}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(build_parser(), argv)

    def body() -> int:
        from safetensors.torch import save

        from srtrack.datasets.index import load_index
        from srtrack.method.plots import plot_prior

        cfg = config_from_args(args)
        # the prior is computed on the one-stream RGB tracker; a variant contributes only its sensitivity.*
        cfg, _ = config_for_label(args, cfg, args.label or BASELINE, model=rgb_counterpart(cfg.model.name),
                                  only="sensitivity")
        checkpoint = args.checkpoint or cfg.model.pretrained
        if checkpoint is None and not args.allow_random_init:
            raise ConfigError("no pretrained tracker: pass --checkpoint or set model.pretrained "
                              "(or --allow-random-init for a smoke run)")
        if args.checkpoint is not None:
            require_file(args.checkpoint, "--checkpoint")
        prepare_output_dir(args.out)
        model_name = cfg.model.name
        index = load_index(args.data)
        if index["modality"] != "rgb":
            log.warning("prior sensitivity on %s data (%s); the method expects RGB pre-training data",
                        index["modality"], index["benchmark"])
        checkpoint_sha256 = file_sha256(checkpoint) if checkpoint else None
        key = cache_key(cfg, checkpoint_sha256 or f"random-init:{cfg.study.seed}", index, model_name)
        summary_path = args.out / SUMMARY_FILE
        if summary_path.is_file() and (args.out / PRIOR_FILE).is_file() and \
                json.loads(summary_path.read_text()).get("cache_key") == key:
            print(f"sensitivity: cached result in {args.out} (same checkpoint, data and settings)", file=sys.stderr)
            return 0
        name = f"sensitivity {index['benchmark']}" + (f" {args.label}" if args.label else "")
        with stage_run(cfg, "sensitivity", name=name, sections=SECTIONS, parent_run_id=args.parent_run_id,
                       dataset=index["benchmark"], model=model_name, label=args.label,
                       checkpoint_sha256=checkpoint_sha256) as run:
            run.log_split(index, "prior")
            tensors, per_param, timing = compute(cfg, args.data, checkpoint, model_name)
            document = {"cache_key": key, "model": model_name, "checkpoint": str(checkpoint) if checkpoint else None,
                        "data": str(args.data), **{k: v for k, v in timing.items() if k != "load_report"},
                        "load_report": json.loads(timing["load_report"]) if timing["load_report"] else None,
                        "parameters": per_param}
            # published together, summary.json (the cache key) last, or not at all
            with Publication(args.out, last=SUMMARY_FILE) as staged:
                write_text_atomic(staged.dir / RUN_ID_FILE, run.run_id + "\n")  # tuning runs link to it
                write_bytes_atomic(staged.dir / PRIOR_FILE, save(tensors, metadata={"cache_key": key, "model": model_name}))
                write_json_atomic(staged.dir / SUMMARY_FILE, document)
                plots = plot_prior(per_param, staged.dir)
            plots = [staged.final(path) for path in plots]
            run.log_metrics({k: timing[k] for k in ("seconds", "samples", "samples_per_s")})
            run.set_tags({"cache_key": key, "prior_model": model_name})
            run.log_outputs([args.out / PRIOR_FILE, summary_path, *plots], "prior")
        print(f"sensitivity: {timing['samples']} samples in {timing['seconds']:.1f} s "
              f"({timing['samples_per_s']:.1f}/s) -> {args.out / PRIOR_FILE}", file=sys.stderr)
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
