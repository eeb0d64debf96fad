"""Benchmark: the plan's activation-memory estimate (srtrack/costs.py) against measured CPU peaks.

    .venv/bin/python benchmarks/memory_estimate.py [--networks srtrack_tiny:64:128 srtrack_base:128:256]
        [--batches 2 6] [--inference] [--json out.json]

For each network, one forward and backward pass runs in a fresh process per batch size, and the
process's peak resident memory (ru_maxrss) is read after it; the difference between two batch
sizes, per sample, is the measured activation memory per sample (what grows with the batch; the
weights, the gradients and the interpreter cancel out). The optimizer step is left out: with a large
model its state (allocated at the first step, after the activations are freed) can set the peak and
hide the activations. It is compared with the
estimate `python -m srtrack.plan` uses (saved tensors counted on the meta device plus one block's
worth), and the relative error printed. No GPU needed; on CUDA the plan's numbers should be checked
with torch.cuda.max_memory_allocated (the GPU benchmark).

`--inference` measures tracking instead: one forward pass in eval mode under inference_mode, against
the per-sequence memory `evaluate.batch: auto` sizes its lockstep batches with (one block's working
set, an upper bound).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

STEP = """
import resource, sys, torch
from srtrack.models import create_tracker
name, template, search, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
inference = sys.argv[5] == "inference"
model = create_tracker(name, template_size=template, search_size=search).train(not inference)
c = model.in_chans
with torch.inference_mode(inference):
    out = model(torch.randn(batch, c, template, template), torch.randn(batch, c, search, search))
if not inference:
    sum(v.float().square().mean() for v in out.values()).backward()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

REPO = Path(__file__).resolve().parent.parent


def peak_bytes(network: str, template: int, search: int, batch: int, mode: str) -> int:
    """Peak resident bytes of one forward and backward pass (`mode` training) or one forward pass
    (`mode` inference) in a fresh process (1 thread)."""
    result = subprocess.run([sys.executable, "-c", STEP, network, str(template), str(search), str(batch), mode],
                            capture_output=True, text=True, check=True,
                            env={"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    return int(result.stdout.strip().splitlines()[-1])


def main() -> None:
    import dataclasses

    from srtrack.config import load_config
    from srtrack.costs import inference_memory_gb, network_cost
    from srtrack.models.spec import spec_from_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", nargs="+", default=["srtrack_tiny:64:128", "srtrack_base:128:256"])
    parser.add_argument("--batches", nargs=2, type=int, default=[2, 6])
    parser.add_argument("--inference", action="store_true", help="tracking (a forward pass) instead of training")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    mode = "inference" if args.inference else "training"
    model_cfg = load_config(REPO / "config" / "config.yaml").model
    rows = []
    print("| network | crops | measured MB / sample | estimated MB / sample | error |\n|---|---|---|---|---|")
    for item in args.networks:
        name, template, search = item.split(":")
        small, large = args.batches
        measured = (peak_bytes(name, int(template), int(search), large, mode)
                    - peak_bytes(name, int(template), int(search), small, mode)) / (large - small)
        spec = spec_from_config(dataclasses.replace(model_cfg, template_size=int(template), search_size=int(search)),
                                name)
        cost = network_cost(spec)
        estimated = ((inference_memory_gb(cost, 1, bf16=False) - inference_memory_gb(cost, 0, bf16=False)) * 1e9
                     if args.inference else cost.activations(False))
        error = estimated / measured - 1
        rows.append({"mode": mode, "network": name, "template": int(template), "search": int(search), "measured_bytes": measured,
                     "estimated_bytes": estimated, "relative_error": error})
        print(f"| {name} | {template}/{search} | {measured / 1e6:.1f} | {estimated / 1e6:.1f} | {error:+.0%} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
