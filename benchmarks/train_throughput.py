"""Benchmark: training throughput of `python -m srtrack.tune` through its real entry point.

    .venv/bin/python benchmarks/train_throughput.py [--steps 30] [--batch 16] [--json out.json]

(1) Samples/s of SRFT tuning of srtrack_tiny (64/128) on the smoke RGB-T data for 1 process x 2
threads, 1 process x 1 thread, and 2 gloo ranks (torchrun) x 1 thread, same global batch.
(2) Step time per method (1 process, 2 threads): full, frozen, l2sp, ewc, srft, prior_only,
transfer_only, prompt (vipt_tiny) and lora (srtrack_lora_tiny), data loading included.
With a CUDA device: (3) samples/s and peak GPU memory of SRTrack-B (srtrack_base, 128/256) per GPU batch.
`--calibration gpu.json --gpu-type a100-80gb` (CUDA only) instead writes the step times of the paper-scale
networks (bf16 and fp32) that `python -m srtrack.plan --calibration gpu.json` plans with.
All numbers come from each run's metrics.json (samples/s over the steps it ran); start-up excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from srtrack.synth.smoke import REPO, build_smoke_data

METHODS = {"full": "srtrack_tiny", "frozen": "srtrack_tiny", "l2sp": "srtrack_tiny", "ewc": "srtrack_tiny",
           "srft": "srtrack_tiny", "prior_only": "srtrack_tiny", "transfer_only": "srtrack_tiny",
           "prompt": "vipt_tiny", "lora": "srtrack_lora_tiny"}


def run(configs: list[Path], out: Path, method: str, model: str, *, ranks: int, threads: int, steps: int, batch: int,
        init: Path, prior: Path, extra: dict | None = None) -> dict:
    """One tuning run; returns its metrics.json."""
    overlay = out.with_suffix(".yaml")
    schedule = {"epochs": 1, "samples_per_epoch": steps * batch, "global_batch": batch, "log_every": 5,
                "checkpoint_every": 10_000, "probe_samples": 0}
    overlay.write_text(yaml.safe_dump({"mlflow": {"tracking_uri": f"sqlite:///{out.parent / 'mlflow.db'}"},
                                       "model": {"name": model}, "train": schedule, **(extra or {})}))
    args = [a for path in [*configs, overlay] for a in ("--config", str(path))]
    args += ["--modality", "rgbt", "--method", method, "--init", str(init), "--prior", str(prior), "--out", str(out)]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"] \
        if ranks > 1 else [sys.executable]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run([*launcher, "-m", "srtrack.tune", *args], env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{method} x {ranks} failed:\n{result.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def inputs(root: Path, configs: list[Path]) -> tuple[Path, Path]:
    """A random-weight RGB tracker and its prior (the sensitivity CLI on the smoke RGB data)."""
    from srtrack import sensitivity
    from srtrack.models import create_tracker

    torch.manual_seed(0)
    init = root / "rgb.pth"
    torch.save({"net": create_tracker("ostrack_tiny", template_size=64, search_size=128).state_dict()}, init)
    args = [a for path in configs for a in ("--config", str(path))]
    if sensitivity.main([*args, "--set", f"mlflow.tracking_uri=sqlite:///{root / 'mlflow.db'}",
                         "--data", str(root / "data/results/data/got10k-train"), "--checkpoint", str(init),
                         "--out", str(root / "prior")]) != 0:
        raise RuntimeError("sensitivity failed")
    return init, root / "prior" / "prior.safetensors"


def model_throughput(device: str, model_name: str, template: int, search: int, batch: int, steps: int = 10,
                     bf16: bool = True) -> dict:
    """Samples/s and peak memory of SRFT-free training steps (AdamW, bf16 autocast on CUDA unless
    `bf16` is False) on random data."""
    import time

    from srtrack.models import create_tracker
    from srtrack.models.losses import objective

    torch.manual_seed(0)
    model = create_tracker(model_name, template_size=template, search_size=search).to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    channels = model.in_chans
    data = {"z": torch.randn(batch, channels, template, template, device=device),
            "x": torch.randn(batch, channels, search, search, device=device),
            "box": torch.rand(batch, 4, device=device) * 0.3 + 0.2,
            "heat": torch.zeros(batch, search // 16, search // 16, device=device)}
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and bf16):
            loss = objective(model(data["z"], data["x"]), data["box"], data["heat"])
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
    return {"samples_per_s": round(batch * steps / seconds, 1), "peak_gib": round(peak, 2)}


CALIBRATED = (("srtrack_base", 128, 256), ("srtrack_base", 192, 384), ("srtrack_lora_base", 128, 256),
              ("vipt_base", 128, 256))


def write_calibration(path: Path, gpu_type: str | None, batch: int) -> None:
    """Seconds per training sample on one GPU for the paper-scale networks, bf16 and fp32, at `batch`, and
    the peak memory at `batch` and its growth per sample (from a second run at twice the batch)."""
    if not torch.cuda.is_available() or not gpu_type:
        sys.exit("--calibration needs a CUDA device and --gpu-type (the resources.gpu_type it is for)")
    entries = []
    for network, template, search in CALIBRATED:
        for precision in ("bf16", "fp32"):
            measured = model_throughput("cuda", network, template, search, batch, bf16=precision == "bf16")
            doubled = model_throughput("cuda", network, template, search, 2 * batch, steps=2,
                                       bf16=precision == "bf16")
            entries.append({"gpu_type": gpu_type, "network": network, "template_size": template,
                            "search_size": search, "precision": precision, "activation_checkpointing": False,
                            "batch": batch, "seconds_per_sample": 1 / measured["samples_per_s"],
                            "peak_gib": measured["peak_gib"],
                            "peak_gib_per_sample": (doubled["peak_gib"] - measured["peak_gib"]) / batch,
                            "device": torch.cuda.get_device_name()})
            torch.cuda.empty_cache()
            print(json.dumps(entries[-1]))
    path.write_text(json.dumps({"entries": entries}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--calibration", type=Path, default=None,
                        help="CUDA only: write the step times python -m srtrack.plan --calibration reads, and stop")
    parser.add_argument("--gpu-type", default=None, help="the resources.gpu_type these step times are for")
    args = parser.parse_args()
    if args.calibration is not None:
        write_calibration(args.calibration, args.gpu_type, args.batch)
        return
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        configs = build_smoke_data(root / "data")
        init, prior = inputs(root, configs)
        common = {"steps": args.steps, "batch": args.batch, "init": init, "prior": prior}
        for ranks, threads in ((1, 2), (1, 1), (2, 1)):
            metrics = run(configs, root / f"ddp-{ranks}x{threads}", "srft", "srtrack_tiny", ranks=ranks,
                          threads=threads, **common)
            results[f"srft_{ranks}rank_x{threads}thread_samples_per_s"] = round(metrics["samples_per_s"], 1)
        for method, model in METHODS.items():
            metrics = run(configs, root / f"method-{method}", method, model, ranks=1, threads=2, **common)
            results[f"step_s_{method}"] = round(args.batch / metrics["samples_per_s"], 4)
        for method in METHODS:
            results[f"step_ratio_{method}"] = round(results[f"step_s_{method}"] / results["step_s_full"], 2)
    if torch.cuda.is_available():
        for batch in (8, 16, 32):
            for key, value in model_throughput("cuda", "srtrack_base", 128, 256, batch).items():
                results[f"gpu_srtrack_base_b{batch}_{key}"] = value
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
