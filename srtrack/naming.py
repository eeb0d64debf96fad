"""Which tracker variant a stage uses (importable without torch, for the Snakefile)."""

from __future__ import annotations

PEFT_TRACKERS = {"prompt": "vipt", "lora": "srtrack_lora"}


def rgb_counterpart(model_name: str) -> str:
    """The one-stream RGB tracker whose weights initialise `model_name` (its prior is computed on it)."""
    return f"ostrack_{model_name.rsplit('_', 1)[-1]}"


def tracker_for_method(model_name: str, method: str) -> str:
    """The variant a method trains: ViPT for prompt tuning, the LoRA tracker for LoRA, else `model_name`
    (same size)."""
    family = PEFT_TRACKERS.get(method)
    return f"{family}_{model_name.rsplit('_', 1)[-1]}" if family else model_name
