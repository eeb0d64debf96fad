"""Benchmark: cost of SRFT's regularizer per training step, and of prior extraction.

    .venv/bin/python benchmarks/method_overhead.py [--steps 12] [--json out.json]

(1) One training step of srtrack_tiny at 64/128, batch 16, AdamW, 2 threads: plain fine-tuning vs
SRFT (prior projection + transfer interpolation; exact or quantile ranks, refreshed every 1 or 5 steps)
vs the released code's update (a full per-step sort of every tensor, via the transfer-only method
with rank_every=1). Ratios are to plain fine-tuning, all measured in one run.
(2) Prior extraction on ostrack_tiny: vmap per-sample gradients vs the per-sample loop.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from srtrack.method.prior import per_sample_gradients, per_sample_gradients_loop, tracker_sample_loss
from srtrack.method.regularizers import MethodSettings, create_regularizer, regularized_step
from srtrack.models import create_tracker
from srtrack.models.losses import objective


def batch(n: int, channels: int) -> dict[str, torch.Tensor]:
    heat = torch.zeros(n, 8, 8)
    heat[:, 4, 4] = 1.0
    return {"template": torch.randn(n, channels, 64, 64), "search": torch.randn(n, channels, 128, 128),
            "search_box": torch.rand(n, 4) * 0.3 + 0.2, "score_map": heat}


def random_prior(params: dict[str, torch.nn.Parameter], k: int = 8) -> dict[str, torch.Tensor]:
    prior = {}
    for name, p in params.items():
        prior[f"{name}.fisher"] = torch.rand_like(p)
        if p.dim() >= 2 and p.shape[0] > 1 and p[0].numel() > 1:
            rows, cols = p.shape[0], p[0].numel()
            prior[f"{name}.out_vectors"] = torch.linalg.qr(torch.randn(rows, min(k, rows)))[0]
            prior[f"{name}.in_vectors"] = torch.linalg.qr(torch.randn(cols, min(k, cols)))[0]
    return prior


def time_steps(method: str, settings: MethodSettings, steps: int) -> float:
    torch.manual_seed(0)
    model = create_tracker("srtrack_tiny", template_size=64, search_size=128)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    reg = create_regularizer(method, settings, steps)
    reg.attach(params, random_prior(params) if reg.uses_prior else None)
    optimizer = torch.optim.AdamW(params.values(), lr=1e-4, weight_decay=1e-4)
    data = batch(16, 6)

    def loss() -> torch.Tensor:
        out = model(data["template"], data["search"])
        return objective(out, data["search_box"], data["score_map"])

    for step in range(2):
        regularized_step(params, optimizer, reg, loss, step, grad_clip=0.1)
    started = time.perf_counter()
    for step in range(steps):
        regularized_step(params, optimizer, reg, loss, step, grad_clip=0.1)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rows = {
        "plain": time_steps("full", MethodSettings(), args.steps),
        "srft_quantile_rank_every_5": time_steps("srft", MethodSettings(rank_every=5, rank_method="quantile"), args.steps),
        "srft_quantile_rank_every_1": time_steps("srft", MethodSettings(rank_every=1, rank_method="quantile"), args.steps),
        "srft_exact_rank_every_1": time_steps("srft", MethodSettings(rank_every=1), args.steps),
        "released_full_sort": time_steps("transfer_only", MethodSettings(rank_every=1, bug_compatible=True), args.steps),
    }
    results = {f"step_s_{k}": round(v, 4) for k, v in rows.items()}
    results.update({f"ratio_{k}": round(v / rows["plain"], 3) for k, v in rows.items()})
    model = create_tracker("ostrack_tiny", template_size=64, search_size=128).eval()
    loss, params = tracker_sample_loss(model, objective)
    data = batch(16, 3)
    per_sample_gradients(loss, params, data)
    for name, fn in (("vmap", per_sample_gradients), ("loop", per_sample_gradients_loop)):
        started = time.perf_counter()
        fn(loss, params, data)
        results[f"prior_samples_per_s_{name}"] = round(16 / (time.perf_counter() - started), 1)
    results["prior_speedup"] = round(results["prior_samples_per_s_vmap"] / results["prior_samples_per_s_loop"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
