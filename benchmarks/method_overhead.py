"""Benchmark: cost of SRFT's regularizer per training step, and of prior extraction.

    .venv/bin/python benchmarks/method_overhead.py [--steps 12] [--json out.json]

(1) One training step of srtrack_tiny at 64/128, batch 16, AdamW, 2 threads: plain fine-tuning vs
SRFT (prior projection + transfer interpolation; exact or quantile ranks, refreshed every 1 or 5 steps)
vs the released code's update (a full per-step sort of every tensor, via the transfer-only method
with rank_every=1). Ratios are to plain fine-tuning, all measured in one run.
(2) Prior extraction: vmap per-sample gradients vs the per-sample loop (torch.func.grad per
sample), samples/s and peak memory, ostrack_tiny (64/128, chunk 16) and ostrack_base (128/256,
chunk 4), each in its own process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from srtrack.method.prior import per_sample_gradients, per_sample_gradients_loop, tracker_sample_loss
from srtrack.config import load_config
from srtrack.config.types import MethodConfig
from srtrack.method.regularizers import apply_update, create_regularizer
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


def regularized_step(params, optimizer, reg, loss_fn, step: int) -> None:
    """The trainer's step on one batch: task loss + penalty, backward, then the update it runs
    (`apply_update`: before_step, clipping, AdamW, after_step)."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn()
    penalty = reg.penalty(params, step)
    (loss if penalty is None else loss + penalty).backward()
    apply_update(params, optimizer, reg, step, grad_clip=0.1)


def time_steps(method: str, settings: MethodConfig, steps: int) -> float:
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
        regularized_step(params, optimizer, reg, loss, step)
    started = time.perf_counter()
    for step in range(steps):
        regularized_step(params, optimizer, reg, loss, step)
    return (time.perf_counter() - started) / steps


def prior_speed(name: str, template: int, search: int, n: int, how: str) -> tuple[float, float]:
    """Samples/s of per-sample gradients for one chunk of n (after a warm-up chunk) and peak RSS (MB)."""
    import resource
    import warnings

    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    model = create_tracker(name, template_size=template, search_size=search).eval()
    loss, params = tracker_sample_loss(model, objective)
    heat = torch.zeros(n, search // 16, search // 16)
    data = {"template": torch.randn(n, 3, template, template), "search": torch.randn(n, 3, search, search),
            "search_box": torch.rand(n, 4) * 0.3 + 0.2, "score_map": heat}
    fn = per_sample_gradients if how == "vmap" else per_sample_gradients_loop
    fn(loss, params, data)
    started = time.perf_counter()
    fn(loss, params, data)
    rate = n / (time.perf_counter() - started)
    return rate, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_subprocess(fn, *args):
    """Run in a fresh process so that peak memory is this measurement's own."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    method = load_config([Path(__file__).resolve().parents[1] / "config" / "config.yaml"]).method  # the default

    def settings(**overrides) -> MethodConfig:
        return dataclasses.replace(method, **overrides)

    rows = {
        "plain": time_steps("full", method, args.steps),
        "srft_quantile_rank_every_5": time_steps("srft", settings(rank_every=5, rank_method="quantile"), args.steps),
        "srft_quantile_rank_every_1": time_steps("srft", settings(rank_every=1, rank_method="quantile"), args.steps),
        "srft_exact_rank_every_1": time_steps("srft", settings(rank_every=1, rank_method="exact"), args.steps),
        "released_full_sort": time_steps("transfer_only", settings(rank_every=1, rank_method="exact",
                                                                   bug_compatible=True), args.steps),
    }
    results = {f"step_s_{k}": round(v, 4) for k, v in rows.items()}
    results.update({f"ratio_{k}": round(v / rows["plain"], 3) for k, v in rows.items()})
    for name, template, search, n in (("ostrack_tiny", 64, 128, 16), ("ostrack_base", 128, 256, 4)):
        for how in ("vmap", "loop"):
            rate, peak = _in_subprocess(prior_speed, name, template, search, n, how)
            results[f"prior_{name}_{how}_samples_per_s"] = round(rate, 2)
            results[f"prior_{name}_{how}_peak_rss_mb"] = round(peak)
        results[f"prior_{name}_speedup"] = round(results[f"prior_{name}_vmap_samples_per_s"]
                                                 / results[f"prior_{name}_loop_samples_per_s"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
