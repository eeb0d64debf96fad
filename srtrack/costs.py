"""What one tracker network costs: parameters, forward FLOPs and the activations training keeps.

Counted on PyTorch's meta device (shapes only: nothing is allocated or computed), so the two-stream
ViT-B at 384 is costed in a second on any machine:

* FLOPs of one forward pass per sample (torch.utils.flop_counter; matmuls and attention, which is
  nearly all of a ViT). A training step is taken as 3 forward passes (backward = 2), 4 with activation
  checkpointing (each block's forward runs again).
* Activation memory per sample: the bytes of every tensor autograd saves for the backward pass
  (saved-tensor hooks), parameters excluded, with and without activation checkpointing. This is what
  stays alive between forward and backward, i.e. what grows with the batch; the peak adds what one
  block saves (live while that block's backward, or its recomputation, runs). Attention is counted
  as the fused kernel keeps it (output and log-sum-exp, not the attention matrix).
  `benchmarks/memory_estimate.py` checks the estimate against measured CPU peaks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from srtrack.models.spec import NetworkSpec

BYTES_FP32 = 4
# the step's share of extra forward passes: backward ~ 2 forwards; checkpointing repeats the forward once
TRAIN_FORWARDS = {False: 3.0, True: 4.0}


@dataclass(frozen=True)
class NetworkCost:
    """Per-sample costs of one network at its crop sizes (fp32)."""

    name: str
    template_size: int
    search_size: int
    params: int
    trainable: int
    forward_flops: float  # one sample's forward pass
    saved_bytes: int  # activations kept for the backward pass, per sample
    saved_bytes_checkpointed: int  # the same under activation checkpointing
    block_bytes: int  # the most one block saves: live at once while its backward (or recomputation) runs
    fisher_entries: int = 0  # the prior's two-sided sums: d_out^2 + d_in^2 per trainable weight matrix
    fisher_flops: float = 0.0  # their update per sample: 2 (d_out^2 d_in + d_in^2 d_out) per matrix

    def train_flops(self, checkpointing: bool) -> float:
        return TRAIN_FORWARDS[checkpointing] * self.forward_flops

    def activations(self, checkpointing: bool) -> int:
        """Peak activation bytes per sample: what is kept for the backward pass plus one block's worth."""
        return (self.saved_bytes_checkpointed if checkpointing else self.saved_bytes) + self.block_bytes


class _FlashAttention(TorchFunctionMode):
    """Scaled dot-product attention as the fused (flash) kernel that training runs on CPUs and GPUs:
    on the meta device PyTorch would take the math path, which keeps every attention matrix (about a
    third of a ViT-B's saved activations) where the fused kernels keep the output and log-sum-exp."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            query, key, value = args[:3]
            return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
                query, key, value, kwargs.get("dropout_p", 0.0), kwargs.get("is_causal", False),
                scale=kwargs.get("scale"))[0]
        return func(*args, **kwargs)


def _saved_bytes(model: nn.Module, template: torch.Tensor, search: torch.Tensor) -> tuple[int, int]:
    """Bytes autograd saves in one forward pass, parameters (and views of them) excluded; and the most
    that one transformer block saves (what its backward, or its recomputation, holds at once; measured
    without activation checkpointing, under which a block saves only its input)."""
    from timm.models.vision_transformer import Block

    params = {id(p) for p in model.parameters()}
    total, block_start, block_max = 0, [0], 0

    def enter(module, inputs) -> None:
        block_start[0] = total

    def leave(module, inputs, output) -> None:
        nonlocal block_max
        block_max = max(block_max, total - block_start[0])

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        base = tensor._base if tensor._base is not None else tensor
        if id(tensor) not in params and id(base) not in params:
            total += tensor.numel() * tensor.element_size()
        return tensor

    blocks = [m for m in model.modules() if isinstance(m, Block)]
    handles = [h for b in blocks for h in (b.register_forward_pre_hook(enter), b.register_forward_hook(leave))]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), _FlashAttention():
            model(template, search)
    finally:
        for handle in handles:
            handle.remove()
    return total, block_max


def network_cost(spec: NetworkSpec) -> NetworkCost:
    """The costs of `spec` (cached: a study asks for the same network many times)."""
    return _network_cost(json.dumps(spec.to_dict(), sort_keys=True))


@lru_cache(maxsize=32)
def _network_cost(key: str) -> NetworkCost:
    from torch.utils.flop_counter import FlopCounterMode

    spec = NetworkSpec.from_dict(json.loads(key))
    with torch.device("meta"):
        model = spec.build().train()
        channels = model.in_chans
        template = torch.empty(1, channels, spec.template_size, spec.template_size)
        search = torch.empty(1, channels, spec.search_size, spec.search_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(template, search)
    saved, block = _saved_bytes(model, template, search)  # the plain forward: the largest block's working set
    model.backbone.activation_checkpointing = True
    saved_checkpointed = _saved_bytes(model, template, search)[0]
    # the weight matrices the prior keeps two-sided sums of (srtrack.method.prior: more than one row and column)
    sides = [(p.shape[0], p.numel() // p.shape[0]) for p in model.parameters()
             if p.requires_grad and p.dim() >= 2 and p.shape[0] > 1 and p.numel() // p.shape[0] > 1]
    return NetworkCost(name=spec.name, template_size=spec.template_size, search_size=spec.search_size,
                       params=sum(p.numel() for p in model.parameters()),
                       trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
                       forward_flops=float(counter.get_total_flops()), saved_bytes=saved,
                       saved_bytes_checkpointed=saved_checkpointed, block_bytes=block,
                       fisher_entries=sum(o * o + i * i for o, i in sides),
                       fisher_flops=float(sum(2 * (o * o * i + i * i * o) for o, i in sides)))


# per trainable parameter, besides the weights: the gradient and AdamW's two moments (fp32)
OPTIMIZER_BYTES = 3 * BYTES_FP32
# what the regularizers keep per trainable parameter: theta_0 (l2sp, ewc, srft and its parts), EWC's Fisher
# diagonal, the transfer term's window of two squared gradients (srft, transfer_only)
REGULARIZER_BYTES = {"full": 0, "frozen": 0, "prompt": 0, "lora": 0, "l2sp": 4, "ewc": 8, "prior_only": 4,
                     "transfer_only": 12, "srft": 12}
# headroom for the allocator's fragmentation and the CUDA context
MEMORY_HEADROOM = 0.9
# bf16 autocast keeps most saved activations in 2 bytes instead of 4 (layer norms and softmax stay fp32)
BF16_ACTIVATION_SHARE = 0.6


def training_memory_gb(cost: NetworkCost, method: str, micro_batch: int, *, bf16: bool, checkpointing: bool) -> float:
    """Peak memory of one training process (GB, 1e9 bytes): weights, optimizer and regularizer state,
    and the activations of one micro-batch."""
    states = cost.params * BYTES_FP32 + cost.trainable * (OPTIMIZER_BYTES + REGULARIZER_BYTES.get(method, 12))
    activations = micro_batch * cost.activations(checkpointing) * (BF16_ACTIVATION_SHARE if bf16 else 1.0)
    return (states + activations) / 1e9


def largest_micro_batch(cost: NetworkCost, method: str, budget_gb: float, *, bf16: bool, checkpointing: bool) -> int:
    """The largest micro-batch whose training memory fits in `budget_gb` (0 if even the weights do not)."""
    return _largest(lambda n: training_memory_gb(cost, method, n, bf16=bf16, checkpointing=checkpointing), budget_gb)


def inference_memory_gb(cost: NetworkCost, batch: int, *, bf16: bool) -> float:
    """Peak memory of one tracking process (GB): the weights and, per sequence tracked in lockstep, one
    block's working set. An upper bound: without autograd a block frees its intermediates as it runs."""
    per_sequence = cost.block_bytes * (BF16_ACTIVATION_SHARE if bf16 else 1.0)
    return (cost.params * BYTES_FP32 + batch * per_sequence) / 1e9


def largest_eval_batch(cost: NetworkCost, budget_gb: float, *, bf16: bool) -> int:
    """The most sequences one tracking process can track in lockstep within `budget_gb`."""
    return _largest(lambda n: inference_memory_gb(cost, n, bf16=bf16), budget_gb)


# what a stage process holds besides the network: the interpreter, torch, the data loader (measured ~1.5 GB on CPU)
PROCESS_BASE_GB = 2.0
# the prior's running sums are float64 (srtrack.method.prior.accumulate)
BYTES_FP64 = 8
# sustained fp32 GFLOP/s of one CPU core on vmap'ed per-sample gradients and the prior's GEMMs: a low,
# stated assumption (vmap loops over samples inside CPU flash attention), so that time limits are generous
CPU_GFLOPS_PER_CORE = 10.0


def prior_memory_gb(cost: NetworkCost, chunk: int) -> float:
    """Peak memory of the prior's extraction (GB) on CPU: the weights (and the checkpoint they were read
    from), per chunk the per-sample gradients (and their squares) and activations, the float64 diagonal
    and two-sided sums."""
    weights = 2 * cost.params * BYTES_FP32
    per_sample = 2 * cost.trainable * BYTES_FP32 + cost.activations(False)
    sums = (cost.trainable + cost.fisher_entries) * BYTES_FP64
    return PROCESS_BASE_GB + (weights + chunk * per_sample + sums) / 1e9


def prior_seconds(cost: NetworkCost, samples: int, cpus: int) -> float:
    """Time of the prior's extraction on `cpus` CPU cores at CPU_GFLOPS_PER_CORE: per sample a forward
    and backward pass and the update of the two-sided sums."""
    per_sample = cost.train_flops(False) + cost.fisher_flops
    return samples * per_sample / (cpus * CPU_GFLOPS_PER_CORE * 1e9)


def _largest(memory_gb: Callable[[int], float], budget_gb: float) -> int:
    """The largest n with memory_gb(n) <= budget_gb, for memory linear in n (0 if n = 0 does not fit)."""
    fixed = memory_gb(0)
    return max(0, math.floor((budget_gb - fixed) / (memory_gb(1) - fixed)))
